# SPDX-License-Identifier: Apache-2.0
# Runs `gloam-engine render-chat` and compares its stdout byte for byte with
# an expected file (copied verbatim from the fixture's expected.json).
# -DEXE= -DDIR= -DREQ= -DEXPECTED=
execute_process(COMMAND ${EXE} render-chat --tokenizer ${DIR} --request ${REQ}
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "render-chat exited with ${rc}")
endif()
file(READ ${EXPECTED} want)
if(NOT out STREQUAL want)
  message(FATAL_ERROR "render-chat output differs:\n--- got\n${out}\n--- want\n${want}")
endif()
