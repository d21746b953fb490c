# SPDX-License-Identifier: Apache-2.0
# Cross toolchain for 64-bit ARM Linux (Debian: gcc-aarch64-linux-gnu), with
# qemu-user as the emulator so CTest runs the ARM test binaries on x86:
#   cmake -S . -B build/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux.cmake \
#         -DGLOAM_KERNELS_ONLY=ON -DGLOAM_WERROR=ON
#   cmake --build build/arm64 -j2 && ctest --test-dir build/arm64
# (scripts/test-arm64 does exactly this; CI runs it.)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# qemu's default "max" CPU has every optional ARMv8/9 feature (dotprod, fp16):
# the dispatcher's feature checks are exercised by GLOAM_KERNELS and by
# QEMU_CPU (e.g. QEMU_CPU=cortex-a53 has no dotprod).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu)
