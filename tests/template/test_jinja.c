/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/template/test_jinja.c: Jinja semantics, checked against what
 * Jinja 3 (with Hugging Face's trim_blocks/lstrip_blocks environment) and
 * Python document for each construct: whitespace control, loops and their
 * scoping, expressions and operator precedence, str()/repr() of values,
 * slicing, filters, tests, string and dict methods, macros, and
 * json.dumps formatting for tojson. Then the limits.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "test_template.h"

static void test_basic_output(void) {
  CHECK_RENDER("Hello {{ name }}!", "{\"name\": \"World\"}", "Hello World!");
  CHECK_RENDER("", NULL, "");
  CHECK_RENDER("{{ 1 }}{{ 'a' }}{{ none }}{{ true }}{{ false }}", NULL, "1aNoneTrueFalse");
  /* keep_trailing_newline=False drops exactly one trailing newline */
  CHECK_RENDER("x\n", NULL, "x");
  CHECK_RENDER("x\n\n", NULL, "x\n");
  CHECK_RENDER("a\r\nb", NULL, "a\nb");
}

static void test_whitespace_control(void) {
  CHECK_RENDER("{% for i in [1,2,3] -%}\n  {{ i }}\n{%- endfor %}", NULL, "123");
  CHECK_RENDER("a  {{- 'b' }}", NULL, "ab");
  CHECK_RENDER("{{ 'a' -}}  \n b", NULL, "ab");
  CHECK_RENDER("a\n  {%- if true %}b{% endif %}", NULL, "ab");
  CHECK_RENDER("{% if true -%}   \n\n b{%- endif %} c", NULL, "b c");
  /* trim_blocks: the newline after a block tag goes, not after {{ }} */
  CHECK_RENDER("{% if true %}\nyes\n{% endif %}\nafter", NULL, "yes\nafter");
  CHECK_RENDER("{{ 'v' }}\nx", NULL, "v\nx");
  /* lstrip_blocks: indentation before a block tag goes, not before {{ }} */
  CHECK_RENDER("a\n    {% if true %}\nb\n    {% endif %}\nc", NULL, "a\nb\nc");
  CHECK_RENDER("  {% if true %}x{% endif %}", NULL, "x");
  CHECK_RENDER("  {{ 'x' }}", NULL, "  x");
  CHECK_RENDER("a {% if true %}x{% endif %}", NULL, "a x");
  /* + disables lstrip_blocks / trim_blocks for that tag */
  CHECK_RENDER("  {%+ if true %}x{% endif %}", NULL, "  x");
  CHECK_RENDER("{% if true +%}\nx{% endif %}", NULL, "\nx");
  /* comments vanish and follow the same whitespace rules */
  CHECK_RENDER("a{# comment #}b", NULL, "ab");
  CHECK_RENDER("a\n  {# c #}\nb", NULL, "a\nb");
  CHECK_RENDER("a {#- c -#} b", NULL, "ab");
  /* a closing brace pair inside an expression does not end the tag */
  CHECK_RENDER("{{ {'a': {'b': 1}}['a']['b'] }}", NULL, "1");
}

static void test_for_loops(void) {
  CHECK_RENDER(
      "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}"
      "{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};"
      "{% endfor %}",
      NULL, "10TrueFalse332;21FalseFalse321;32FalseTrue310;");
  CHECK_RENDER("{% for x in [] %}x{% else %}empty{% endfor %}", NULL, "empty");
  CHECK_RENDER("{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}",
               NULL, "1,3,5,7,9");
  CHECK_RENDER("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
               "{\"d\": {\"b\": 1, \"a\": 2}}", "b=1;a=2;");
  CHECK_RENDER("{% for k in d %}{{ k }}{% endfor %}", "{\"d\": {\"x\": 1, \"y\": 2}}", "xy");
  CHECK_RENDER("{% for c in 'hé' %}[{{ c }}]{% endfor %}", NULL, "[h][é]");
  CHECK_RENDER("{% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}",
               NULL, "012");
  CHECK_RENDER(
      "{% for i in range(5) %}{% if i is odd %}{% continue %}{% endif %}{{ i }}{% endfor %}", NULL,
      "024");
  CHECK_RENDER(
      "{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} "
      "{% endfor %}{{ loop.index }}|{% endfor %}",
      NULL, "1x1 1y2 1|2x1 2y2 2|");
  CHECK_RENDER("{% for x in [1,2,3] %}{{ loop.cycle('a', 'b') }}{% endfor %}", NULL, "aba");
  CHECK_RENDER("{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", NULL,
               "-2;1-3;2-;");
  CHECK_RENDER("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }}",
               NULL, "[0, 1, 2] [1, 3, 5] [3, 2, 1]");
  CHECK_RENDER("{{ range(3) }} {{ range(1, 7, 2) }} {{ range(10)[::3] }} {{ range(5)[::-1] }}",
               NULL, "range(0, 3) range(1, 7, 2) range(0, 10, 3) range(4, -1, -1)");
}

static void test_scoping(void) {
  /* a set inside a loop body is local to that iteration */
  CHECK_RENDER("{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
               NULL, "231");
  /* if does not open a scope */
  CHECK_RENDER("{% if true %}{% set y = 5 %}{% endif %}{{ y }}", NULL, "5");
  CHECK_RENDER(
      "{% set ns = namespace(total=0) %}{% for i in [1,2,3] %}"
      "{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
      NULL, "6");
  CHECK_RENDER("{% set ns = namespace(a=1, b='x') %}{{ ns.a }}{{ ns.b }}{{ ns.c }}", NULL, "1x");
  CHECK_RENDER("{% set a, b = 1, 2 %}{{ a }}{{ b }}", NULL, "12");
  CHECK_RENDER("{% set x %}a{{ 1 + 1 }}b{% endset %}[{{ x }}]", NULL, "[a2b]");
  CHECK_RENDER("{% set x | upper %}abc{% endset %}{{ x }}", NULL, "ABC");
  /* variables passed in can be shadowed */
  CHECK_RENDER("{% set messages = [1] %}{{ messages }}", NULL, "[1]");
}

static void test_if_and_expressions(void) {
  const char *t = "{% if x > 5 %}big{% elif x > 2 %}mid{% else %}small{% endif %}";
  CHECK_RENDER(t, "{\"x\": 3}", "mid");
  CHECK_RENDER(t, "{\"x\": 9}", "big");
  CHECK_RENDER(t, "{\"x\": 1}", "small");
  CHECK_RENDER(
      "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} "
      "{{ 1 + 2 * 3 }} {{ 10 - 2 - 3 }} {{ 4 / 2 }}",
      NULL, "3 -4 1 2 3.5 1024 7 5 2.0");
  CHECK_RENDER("{{ 'a' ~ 1 ~ none }}{{ 'x' * 3 }}{{ [1] + [2] }}", NULL, "a1Nonexxx[1, 2]");
  CHECK_RENDER("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }}", NULL,
               "True False True True");
  CHECK_RENDER("{{ 'ell' in 'hello' }} {{ 2 not in [1, 3] }} {{ 'a' in {'a': 1} }}", NULL,
               "True True True");
  CHECK_RENDER("{{ 0 or 'b' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or [] }}", NULL,
               "b|b||[]");
  CHECK_RENDER("{{ not 1 == 2 }} {{ not true and false }}", NULL, "True False");
  CHECK_RENDER("{{ 'y' if x else 'n' }}{{ 'y' if not x else 'n' }}", "{\"x\": 1}", "yn");
  /* filters bind tighter than binary operators; unary minus binds first */
  CHECK_RENDER("{{ 'a' ~ 'b' | upper }} {{ -3 | abs }}", NULL, "aB 3");
  CHECK_RENDER("{{ x.a.b }} {{ x['a']['b'] }} {{ l.1 }} {{ l[-1] }}",
               "{\"x\": {\"a\": {\"b\": 7}}, \"l\": [5, 6]}", "7 7 6 6");
}

static void test_value_printing(void) {
  CHECK_RENDER("{{ [1, 'a', none, true, 1.5] }}", NULL, "[1, 'a', None, True, 1.5]");
  CHECK_RENDER("{{ {'a': 1, 'b': [2]} }}", NULL, "{'a': 1, 'b': [2]}");
  CHECK_RENDER("{{ [\"it's\"] }} {{ ('a', 1) }} {{ ('a',) }}", NULL, "[\"it's\"] ('a', 1) ('a',)");
  CHECK_RENDER("{{ [missing, none] }} {% macro m() %}{% endmacro %}{{ [m] }}", NULL,
               "[Undefined, None] [<Macro 'm'>]");
  CHECK_RENDER("{{ ['a\\nb'] }}", NULL, "['a\\nb']");
  CHECK_RENDER(
      "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ -0.5 }}", NULL,
      "1.0 0.30000000000000004 1e+16 1000000000000000.0 0.0001 1e-05 -0.5");
  CHECK_RENDER("{{ 'a\\tb' }}|{{ \"\\u00e9\" }}|{{ 'x\\'y' }}", NULL, "a\tb|é|x'y");
  CHECK_RENDER("{{ x }} {{ y }}", "{\"x\": 2.5, \"y\": 10}", "2.5 10");
}

static void test_slicing(void) {
  CHECK_RENDER("{{ [1,2,3,4][::-1] }}", NULL, "[4, 3, 2, 1]");
  CHECK_RENDER("{{ 'hello'[1:3] }} {{ 'hello'[-1] }} {{ 'abc'[::-1] }} {{ 'héllo'[1] }}", NULL,
               "el o cba é");
  CHECK_RENDER(
      "{{ [1,2,3,4,5][::2] }} {{ [1,2,3,4,5][-2:] }} {{ [1,2,3,4,5][4:1:-2] }} "
      "{{ [1,2,3][5:] }} {{ [1,2,3][:-1] }}",
      NULL, "[1, 3, 5] [4, 5] [5, 3] [] [1, 2]");
  CHECK_RENDER("{{ [1,2,3][7] }}|{{ 'ab'[-3] }}", NULL, "|");
  /* a subscript or slice Python rejects is undefined in Jinja, not an error */
  CHECK_RENDER(
      "[{{ true[0] }}][{{ [1]['x'] }}][{{ 1.5[1:] }}][{{ 'ab'[1.0] }}][{{ [1, 2]['a':] }}]", NULL,
      "[][][][][]");
  CHECK_FAIL("{{ [1, 2][missing:] }}", NULL, GLOAM_EINVAL, "slice indices must be integers");
}

static void test_tests(void) {
  CHECK_RENDER(
      "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} "
      "{{ x is not none }}",
      "{\"x\": 1}", "True False True True True");
  CHECK_RENDER(
      "{{ 'a' is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} "
      "{{ {} is mapping }} {{ [] is iterable }} {{ 1 is iterable }} {{ 'a' is iterable }}",
      NULL, "True True True True True True False True");
  CHECK_RENDER(
      "{{ true is boolean }} {{ 1 is boolean }} {{ false is false }} {{ 0 is false }} "
      "{{ true is true }}",
      NULL, "True False True False True");
  CHECK_RENDER("{{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}",
               NULL, "True False True False");
  CHECK_RENDER("{{ 2 is eq 2 }} {{ 1 is lt 2 }} {{ 'a' is in 'abc' }} {{ 'HI' is upper }}", NULL,
               "True True True True");
  CHECK_RENDER("{% if x is defined and x.y is defined %}a{% else %}b{% endif %}", "{\"x\": {}}",
               "b");
}

static void test_undefined(void) {
  CHECK_RENDER("[{{ missing }}][{{ missing.attr }}][{{ missing['k'] }}]", NULL, "[][][]");
  CHECK_RENDER(
      "{{ missing | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}"
      "|{{ none | default('d') }}",
      NULL, "d||d|None");
  CHECK_RENDER("{{ missing | length }}{% for x in missing %}x{% endfor %}{{ missing ~ 'a' }}", NULL,
               "0a");
  CHECK_RENDER("{{ d.nokey is defined }} {{ d.k }}", "{\"d\": {\"k\": 1}}", "False 1");
  CHECK_FAIL("\n{{ missing + 1 }}", NULL, GLOAM_EINVAL, "line 2: 'missing' is undefined");
  CHECK_FAIL("{{ missing.split(',') }}", NULL, GLOAM_EINVAL, "'missing' is undefined");
}

static void test_filters(void) {
  CHECK_RENDER("{{ '  hi  ' | trim }}|{{ 'xxhixx' | trim('x') }}", NULL, "hi|hi");
  CHECK_RENDER("{{ [1,2,3] | length }} {{ 'héllo' | length }} {{ {'a': 1} | count }}", NULL,
               "3 5 1");
  CHECK_RENDER("{{ 'Hello' | upper }} {{ 'Hello' | lower }} {{ 'é' | upper }}", NULL,
               "HELLO hello É");
  CHECK_RENDER("{{ [1,2,3] | join(', ') }}|{{ ['a','b'] | join }}", NULL, "1, 2, 3|ab");
  CHECK_RENDER("{{ [3,1,2] | first }} {{ [3,1,2] | last }} {{ 'abc' | first }}", NULL, "3 2 a");
  CHECK_RENDER(
      "{{ '42' | int + 1 }} {{ 'x' | int }} {{ '3.7' | int }} {{ 3.9 | int }} "
      "{{ 'x' | int(5) }} {{ '2.5' | float }}",
      NULL, "43 0 3 3 5 2.5");
  CHECK_RENDER("{{ 'a-b-c' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }}", NULL,
               "a+b+c bba");
  CHECK_RENDER(
      "{{ 'hello world' | capitalize }}|{{ 'hello woRLD' | title }}|{{ 'a-b c(d' | title }}", NULL,
      "Hello world|Hello World|A-B C(D");
  CHECK_RENDER("{{ {'a': 1} | items | list }} {{ 'abc' | list }} {{ 5 | string ~ 'x' }}", NULL,
               "[('a', 1)] ['a', 'b', 'c'] 5x");
  CHECK_RENDER("{{ [{'n': 'a'}, {'n': 'b'}] | map(attribute='n') | join }}", NULL, "ab");
  CHECK_RENDER("{{ ['a', 'b'] | map('upper') | list }}", NULL, "['A', 'B']");
  CHECK_RENDER("{{ [1,2,3,4] | select('odd') | list }} {{ [1,2,3,4] | reject('odd') | list }}",
               NULL, "[1, 3] [2, 4]");
  CHECK_RENDER(
      "{{ u | selectattr('on') | map(attribute='n') | join(',') }}|"
      "{{ u | rejectattr('on') | map(attribute='n') | join(',') }}|"
      "{{ u | selectattr('n', 'equalto', 'b') | map(attribute='n') | join }}",
      "{\"u\": [{\"n\": \"a\", \"on\": true}, {\"n\": \"b\", \"on\": false}]}", "a|b|b");
  CHECK_RENDER("{{ [3,1,2] | sort }} {{ [3,1,2] | sort(reverse=true) }} {{ ['b','A','c'] | sort }}",
               NULL, "[1, 2, 3] [3, 2, 1] ['A', 'b', 'c']");
  CHECK_RENDER(
      "{{ [1,2,1,3] | unique | list }} {{ [4,1,7] | min }} {{ [4,1,7] | max }} "
      "{{ [1,2,3] | sum }} {{ [1,2] | reverse | list }} {{ 'ab' | reverse }}",
      NULL, "[1, 2, 3] 1 7 6 [2, 1] ba");
  CHECK_RENDER(
      "{{ 'a\\nb' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2) }}",
      NULL, "a\n  b|  a\n  b|a\n\n  b");
  /* Jinja splits on newlines keeping a trailing empty line, so it survives */
  CHECK_RENDER("[{{ '{\\n' | indent(4, first=true) }}][{{ 'a\\n' | indent(2, blank=true) }}]", NULL,
               "[    {\n][a\n  ]");
  CHECK_RENDER("{{ '<a href=\"x\">&' | e }}", NULL, "&lt;a href=&#34;x&#34;&gt;&amp;");
  CHECK_RENDER(
      "{{ true | abs }} {{ 4.5 is odd }} {{ 3.0 is odd }} {{ 7.5 is divisibleby 2.5 }} "
      "{{ -3 is odd }}",
      NULL, "1 False True True True");
  CHECK_RENDER("{{ -2.5 | abs }} {{ 2.567 | round(1) }} {{ 2.5 | round(0, 'floor') }}", NULL,
               "2.5 2.6 2.0");
  CHECK_RENDER("{% filter upper %}abc{{ 'd' }}{% endfilter %}", NULL, "ABCD");
  CHECK_RENDER("{{ 'Hello, wörld! a_b 42x' | wordcount }} {{ messages | wordcount }}",
               "{\"messages\": [{\"role\": \"user\"}]}", "4 2");
  CHECK_FAIL("{{ 1 | nosuchfilter }}", NULL, GLOAM_EINVAL, "no filter named 'nosuchfilter'");
}

static void test_tojson(void) {
  CHECK_RENDER("{{ [1, 2] | tojson }}", NULL, "[1, 2]");
  CHECK_RENDER("{{ {'a': 'é', 'b': none, 'c': true, 'd': 1.5, 'e': [], 'f': {}} | tojson }}", NULL,
               "{\"a\": \"é\", \"b\": null, \"c\": true, \"d\": 1.5, \"e\": [], \"f\": {}}");
  CHECK_RENDER("{{ 'a\"b\\n\\\\' | tojson }}", NULL, "\"a\\\"b\\n\\\\\"");
  CHECK_RENDER("{{ '\\x01\\x7f<>&' | tojson }}", NULL, "\"\\u0001\x7f<>&\"");
  CHECK_RENDER("{{ {'a': [1, 2]} | tojson(indent=2) }}", NULL,
               "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
  CHECK_RENDER("{{ {} | tojson(indent=2) }} {{ [] | tojson(indent=4) }}", NULL, "{} []");
  CHECK_RENDER("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}", NULL, "{\"a\": 2, \"b\": 1}");
  CHECK_RENDER("{{ 'é😀' | tojson(ensure_ascii=true) }}", NULL, "\"\\u00e9\\ud83d\\ude00\"");
  /* Python: True == 1, so {1: 'x', True: 'y'} is {1: 'y'} */
  CHECK_RENDER("{{ {1: 'x', true: 'y'} | tojson }}", NULL, "{\"1\": \"y\"}");
  CHECK_RENDER("{{ {2: 'x', none: 'y', false: 'z'} | tojson }}", NULL,
               "{\"2\": \"x\", \"null\": \"y\", \"false\": \"z\"}");
  /* key order and number forms of the input survive */
  CHECK_RENDER("{{ t | tojson }}", "{\"t\": {\"z\": 1, \"a\": 2.0, \"m\": -0.5, \"n\": 1e100}}",
               "{\"z\": 1, \"a\": 2.0, \"m\": -0.5, \"n\": 1e+100}");
  CHECK_FAIL("{{ missing | tojson }}", NULL, GLOAM_EINVAL, "not JSON serializable");
}

static void test_string_methods(void) {
  CHECK_RENDER(
      "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} "
      "{{ 'a,b,c'.rsplit(',', 1) }}",
      NULL, "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b,c'] ['a,b', 'c']");
  CHECK_RENDER(
      "{{ '\\n\\nx\\n'.strip('\\n') }}|{{ 'xxhi'.lstrip('x') }}|{{ 'hi  '.rstrip() }}|"
      "{{ '  hi '.strip() }}",
      NULL, "x|hi|hi|hi");
  CHECK_RENDER(
      "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} "
      "{{ 'hello'.startswith('lo') }}",
      NULL, "True True False");
  CHECK_RENDER(
      "{{ 'aaa'.replace('a', 'b', 2) }} {{ 'Hi'.upper() }}{{ 'Hi'.lower() }} "
      "{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}",
      NULL, "bba HIhi Hello World Hello");
  CHECK_RENDER("{{ ', '.join(['a', 'b']) }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }}", NULL,
               "a, b 2 2");
  CHECK_RENDER(
      "{{ c.split('</think>')[-1].lstrip('\\n') }}|"
      "{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
      "{\"c\": \"<think>\\nr\\n</think>\\n\\nanswer\"}", "answer|r");
}

static void test_dict_methods(void) {
  const char *d = "{\"d\": {\"a\": 1, \"b\": 2}}";
  CHECK_RENDER("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 0) }}", d, "1 None 0");
  CHECK_RENDER("{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}", d,
               "['a', 'b'] [1, 2] [('a', 1), ('b', 2)]");
  CHECK_FAIL("{{ [1].append(2) }}", NULL, GLOAM_EINVAL, "not allowed");
  /* large dicts (hash-indexed) keep order, lookups and updates */
  char vars[1024];
  size_t k = (size_t)snprintf(vars, sizeof vars, "{\"big\": {");
  for (int i = 0; i < 40; i++)
    k += (size_t)snprintf(vars + k, sizeof vars - k, "%s\"k%d\": %d", i ? ", " : "", i, i * 10);
  snprintf(vars + k, sizeof vars - k, "}}");
  CHECK_RENDER(
      "{{ big.k0 }} {{ big['k39'] }} {{ big.k17 }} {{ big.nokey is defined }} "
      "{{ big | length }} {{ (big | list)[25] }}",
      vars, "0 390 170 False 40 k25");
  CHECK_RENDER(
      "{% set ns = namespace(big) %}{% set ns.k39 = 'x' %}{% set ns.extra = 1 %}"
      "{{ ns.k39 }} {{ ns.k38 }} {{ ns.extra }} {{ ns.k0 }}",
      vars, "x 380 1 0");
}

static void test_macros_and_globals(void) {
  CHECK_RENDER(
      "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
      "{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(name='Cy') }}",
      NULL, "Hi Bob! Hi Al? Hi Cy!");
  CHECK_RENDER("{% macro m() %}{{ varargs | length }}{% endmacro %}{{ m(1, 2) }}", NULL, "2");
  /* macros see the variables around their definition, and themselves */
  CHECK_RENDER(
      "{% for i in [1, 2] %}{% macro show(n) %}{{ i }}{{ n }}{% if n > 0 %}"
      "{{ show(n - 1) }}{% endif %}{% endmacro %}{{ show(1) }};{% endfor %}",
      NULL, "1110;2120;");
  CHECK_RENDER("{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}", NULL,
               "2");
  CHECK_RENDER("{{ strftime_now('%Y-%m-%d %H:%M') }}", NULL, "2023-11-14 22:13");
  CHECK_RENDER("{{ dict(a=1)['a'] }}", NULL, "1");
  CHECK_RENDER("{% generation %}gen{% endgeneration %}", NULL, "gen");
  CHECK_FAIL("x\n{{ raise_exception('Conversation roles must alternate') }}", NULL, GLOAM_EINVAL,
             "template line 2: Conversation roles must alternate");
}

static void test_syntax_errors(void) {
  CHECK_FAIL("line1\n{% if %}x{% endif %}", NULL, GLOAM_EFORMAT, "line 2");
  CHECK_FAIL("{% if true %}x", NULL, GLOAM_EFORMAT, "expected 'endif'");
  CHECK_FAIL("{% for x in y %}", NULL, GLOAM_EFORMAT, "expected 'endfor'");
  CHECK_FAIL("{{ 'abc }}", NULL, GLOAM_EFORMAT, "unterminated string");
  CHECK_FAIL("{{ 1 + }}", NULL, GLOAM_EFORMAT, "unexpected end of expression");
  CHECK_FAIL("{% frobnicate %}", NULL, GLOAM_EFORMAT, "unknown or misplaced tag 'frobnicate'");
  CHECK_FAIL("{{ 1 }", NULL, GLOAM_EFORMAT, "unclosed tag");
  CHECK_FAIL("a{# never closed", NULL, GLOAM_EFORMAT, "unclosed comment");
  CHECK_FAIL("{% endif %}", NULL, GLOAM_EFORMAT, "unknown or misplaced tag 'endif'");
}

/* ---- limits ---- */

static int render_lim(const char *tmpl, const gloam_chat_limits *lim, char *err) {
  gloam_chat_request req = {.messages_json = "[]"};
  char *out = NULL;
  int rc = gloam_chat_render(tmpl, &req, lim, &out, NULL, err);
  gloam_chat_free(out);
  return rc;
}

static void test_limits(void) {
  char err[GLOAM_ERR_LEN];
  gloam_chat_limits lim;
  gloam_chat_limits_default(&lim);
  lim.max_steps = 1000;
  ASSERT_EQ_INT(render_lim("{% for i in range(100000) %}{% endfor %}", &lim, err), GLOAM_ETOOBIG);
  ASSERT_TRUE(strstr(err, "step limit") != NULL);
  ASSERT_EQ_INT(
      render_lim("\n{% for i in range(500) %}{% for j in range(500) %}{% endfor %}{% endfor %}",
                 &lim, err),
      GLOAM_ETOOBIG);
  ASSERT_TRUE(strstr(err, "step limit") && strstr(err, "line 2"));

  gloam_chat_limits_default(&lim);
  lim.max_output = 100;
  ASSERT_EQ_INT(render_lim("{% for i in range(1000) %}xxxxxxxxxx{% endfor %}", &lim, err),
                GLOAM_ETOOBIG);
  ASSERT_TRUE(strstr(err, "output limit") != NULL);
  ASSERT_OK(render_lim("{% for i in range(10) %}xxxxxxxxxx{% endfor %}", &lim, err));

  gloam_chat_limits_default(&lim);
  ASSERT_EQ_INT(render_lim("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", &lim, err),
                GLOAM_ETOOBIG);
  ASSERT_TRUE(strstr(err, "recursion limit") != NULL);

  gloam_chat_limits_default(&lim);
  lim.max_memory = 1 << 20;
  ASSERT_EQ_INT(render_lim("{% set ns = namespace(s='x') %}{% for i in range(40) %}"
                           "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                           &lim, err),
                GLOAM_ETOOBIG);
  ASSERT_TRUE(strstr(err, "memory limit") != NULL);
  ASSERT_EQ_INT(render_lim("{{ 'x' * 100000000000 }}", &lim, err), GLOAM_ETOOBIG);

  gloam_chat_limits_default(&lim);
  lim.max_template = 10;
  ASSERT_EQ_INT(render_lim("{{ 'this is long' }}", &lim, err), GLOAM_ETOOBIG);

  gloam_chat_limits_default(&lim);
  char deep[4200];
  size_t k = 0;
  k += (size_t)snprintf(deep, sizeof deep, "{{ ");
  for (int i = 0; i < 2000; i++) deep[k++] = '(';
  deep[k++] = '1';
  for (int i = 0; i < 2000; i++) deep[k++] = ')';
  snprintf(deep + k, sizeof deep - k, " }}");
  ASSERT_EQ_INT(render_lim(deep, &lim, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "nesting too deep") != NULL);

  /* invalid UTF-8 in the template */
  ASSERT_EQ_INT(render_lim("\xff{{ 1 }}", &lim, err), GLOAM_EFORMAT);
  /* integer overflow is an error, not a wrap */
  ASSERT_EQ_INT(render_lim("{{ 9223372036854775807 + 1 }}", &lim, err), GLOAM_EINVAL);
  ASSERT_EQ_INT(render_lim("{{ 1 // 0 }}", &lim, err), GLOAM_EINVAL);
}

/* The same template object renders with different variables (compiled once). */
static void test_template_object(void) {
  char err[GLOAM_ERR_LEN];
  gloam_chat_template *t;
  const char *src =
      "{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}"
      "{% if add_generation_prompt %}A:{% endif %}{{ bos_token }}";
  ASSERT_OK(gloam_chat_template_new(&t, src, strlen(src), NULL, err));
  gloam_chat_request req = {.messages_json = "[{\"role\":\"user\",\"content\":\"hi\"}]",
                            .add_generation_prompt = 1,
                            .bos_token = "<s>"};
  char *out;
  size_t n;
  ASSERT_OK(gloam_chat_template_render(t, &req, &out, &n, err));
  ASSERT_EQ_STR(out, "user:hi;A:<s>");
  ASSERT_EQ_INT(n, 13);
  gloam_chat_free(out);
  req.add_generation_prompt = 0;
  req.bos_token = NULL;
  ASSERT_OK(gloam_chat_template_render(t, &req, &out, &n, err));
  ASSERT_EQ_STR(out, "user:hi;");
  gloam_chat_free(out);
  req.messages_json = "{not json";
  ASSERT_EQ_INT(gloam_chat_template_render(t, &req, &out, &n, err), GLOAM_EINVAL);
  req.messages_json = "{}";
  ASSERT_EQ_INT(gloam_chat_template_render(t, &req, &out, &n, err), GLOAM_EINVAL);
  /* tools absent: `tools` is None (defined), as Hugging Face passes it */
  gloam_chat_template_free(t);
  CHECK_RENDER("{{ tools is defined }} {{ tools is none }}", NULL, "True True");
}

/* Allocation failures anywhere give a clean error and no leak. */
static void test_alloc_failure_sweep(void) {
  const char *src =
      "{% set ns = namespace(x=1) %}{% for m in messages %}{{ m.content | upper }}"
      "{{ m | tojson }}{% set ns.x = ns.x + 1 %}{% endfor %}{{ ns.x }}";
  gloam_chat_request req = {.messages_json =
                                "[{\"role\":\"user\",\"content\":\"hi\"},"
                                "{\"role\":\"assistant\",\"content\":\"yo\"}]"};
  char err[GLOAM_ERR_LEN];
  int ok = 0;
  for (long n = 0; n < 2000 && !ok; n++) {
    char *out = NULL;
    mem_fail_after(n);
    int rc = gloam_chat_render(src, &req, NULL, &out, NULL, err);
    mem_fail_after(-1);
    if (rc == 0) {
      ASSERT_EQ_STR(out,
                    "HI{\"role\": \"user\", \"content\": \"hi\"}YO{\"role\": \"assistant\", "
                    "\"content\": \"yo\"}3");
      ok = 1;
    } else {
      ASSERT_TRUE(rc == GLOAM_ENOMEM || rc == GLOAM_ETOOBIG);
    }
    gloam_chat_free(out);
  }
  ASSERT_TRUE(ok);
}

/* One compiled template rendered from several threads at once. */
typedef struct thread_arg {
  const gloam_chat_template *t;
  int ok;
} thread_arg;

static void *render_many(void *p) {
  thread_arg *a = p;
  char err[GLOAM_ERR_LEN];
  for (int i = 0; i < 200; i++) {
    char msgs[128];
    snprintf(msgs, sizeof msgs, "[{\"role\":\"user\",\"content\":\"n%d\"}]", i);
    gloam_chat_request req = {.messages_json = msgs, .add_generation_prompt = 1};
    char *out = NULL, want[64];
    snprintf(want, sizeof want, "user=n%d|A", i);
    if (gloam_chat_template_render(a->t, &req, &out, NULL, err) < 0 || strcmp(out, want) != 0) {
      gloam_chat_free(out);
      return NULL;
    }
    gloam_chat_free(out);
  }
  a->ok = 1;
  return NULL;
}

static void test_threads_share_template(void) {
  const char *src =
      "{% set ns = namespace(s='') %}{% for m in messages %}"
      "{% set ns.s = ns.s ~ m.role ~ '=' ~ m.content %}{% endfor %}"
      "{{ ns.s }}{{ '|A' if add_generation_prompt }}";
  char err[GLOAM_ERR_LEN];
  gloam_chat_template *t;
  ASSERT_OK(gloam_chat_template_new(&t, src, strlen(src), NULL, err));
  pthread_t th[4];
  thread_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (thread_arg){t, 0};
    ASSERT_EQ_INT(pthread_create(&th[i], NULL, render_many, &args[i]), 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) ASSERT_TRUE(args[i].ok);
  gloam_chat_template_free(t);
}

const test_case template_jinja_tests[] = {
    TEST(test_threads_share_template),
    TEST(test_basic_output),
    TEST(test_whitespace_control),
    TEST(test_for_loops),
    TEST(test_scoping),
    TEST(test_if_and_expressions),
    TEST(test_value_printing),
    TEST(test_slicing),
    TEST(test_tests),
    TEST(test_undefined),
    TEST(test_filters),
    TEST(test_tojson),
    TEST(test_string_methods),
    TEST(test_dict_methods),
    TEST(test_macros_and_globals),
    TEST(test_syntax_errors),
    TEST(test_limits),
    TEST(test_template_object),
    TEST(test_alloc_failure_sweep),
    {0},
};
