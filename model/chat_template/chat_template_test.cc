// Tests of the chat-template interpreter: byte-for-byte agreement with Python's jinja2 (configured
// as HF transformers does) on real model templates, unit tests per feature, and error handling.
#include "model/chat_template/chat_template.h"

#include <ctime>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace shardserve {
namespace {

using nlohmann::ordered_json;

const char* kTestdata = "model/chat_template/testdata/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Renders `source` with `context`; returns the output or "ERROR: <message>".
std::string render(std::string_view source, const ordered_json& context = ordered_json::object()) {
  auto tmpl = ChatTemplate::parse(source);
  if (!tmpl.ok()) return "ERROR: " + tmpl.error().message;
  auto out = tmpl->render(context);
  if (!out.ok()) return "ERROR: " + out.error().message;
  return out.value();
}

// ---------------------------------------------------------------------------------------------
// Golden cases from testdata/make_expected.py (Python jinja2 with HF's environment).

TEST(ChatTemplateGolden, MatchesPythonJinjaOnRealTemplates) {
  const std::string text = read_file(std::string(kTestdata) + "expected.json");
  ASSERT_FALSE(text.empty()) << "run from the repo root; missing expected.json";
  const ordered_json cases = ordered_json::parse(text);
  ASSERT_GE(cases.size(), 100u);
  int checked = 0;
  for (const auto& c : cases) {
    const std::string name = c["template"].get<std::string>() + " " + c["case"].get<std::string>();
    SCOPED_TRACE(name);
    auto tmpl =
        ChatTemplate::parse(read_file(std::string(kTestdata) + c["template"].get<std::string>()));
    ASSERT_TRUE(tmpl.ok()) << tmpl.error().message;
    auto out = tmpl->render(c["context"]);
    if (c.contains("error")) {
      ASSERT_FALSE(out.ok()) << "expected error: " << c["error"];
      // An empty expected error means Python failed with a TypeError or similar, whose wording
      // we do not copy; raise_exception() messages must match.
      EXPECT_NE(out.error().message.find(c["error"].get<std::string>()), std::string::npos)
          << out.error().message;
    } else {
      ASSERT_TRUE(out.ok()) << out.error().message;
      EXPECT_EQ(out.value(), c["output"].get<std::string>());
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(cases.size()));
}

TEST(ChatTemplateGolden, SmolLM2TemplateFromGgufMatchesTestdata) {
  // The SmolLM2 template in testdata is the one in the repo's GGUF; a smoke check of its shape.
  const std::string src = read_file(std::string(kTestdata) + "smollm2.jinja");
  ordered_json ctx = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                      {"add_generation_prompt", true}};
  EXPECT_EQ(render(src, ctx),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

// ---------------------------------------------------------------------------------------------
// One test per language feature; expected strings come from Python jinja2 with HF's settings.

TEST(ChatTemplateFeatures, Literals) {
  const char* src =
      R"JINJA({{ 'a\tb\n' }}|{{ "q\"x" }}|{{ 42 }}|{{ 1.5 }}|{{ 1e3 }}|{{ true }}|{{ False }}|{{ none }}|{{ [1, 'x', None] }}|{{ {'k': 'v', 'n': 2} }}|{{ (1, 2) }}|{{ 'a' 'b' }})JINJA";
  EXPECT_EQ(
      render(src),
      "a\tb\n|q\"x|42|1.5|1000.0|True|False|None|[1, 'x', None]|{'k': 'v', 'n': 2}|(1, 2)|ab");
}

TEST(ChatTemplateFeatures, Arithmetic) {
  const char* src =
      R"JINJA({{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1 + 1.5 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ -(3) }} {{ 0.1 + 0.2 }})JINJA";
  EXPECT_EQ(render(src), "7 9 3.5 3 -4 1 2 1024 2.5 ababab [1, 2] -3 0.30000000000000004");
}

TEST(ChatTemplateFeatures, Concat) {
  const char* src = R"JINJA({{ 'a' ~ 1 ~ none ~ undefined_var ~ true }})JINJA";
  EXPECT_EQ(render(src), "a1NoneTrue");
}

TEST(ChatTemplateFeatures, Comparisons) {
  const char* src =
      R"JINJA({{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ true == 1 }})JINJA";
  EXPECT_EQ(render(src), "True False True True True True False True True True");
}

TEST(ChatTemplateFeatures, Logic) {
  const char* src =
      R"JINJA({{ true and 'x' }} {{ false or 'y' }} {{ not 0 }} {{ none or [] }} {{ 'a' if 1 > 2 else 'b' }} [{{ 'a' if false }}] {{ not 1 == 2 }})JINJA";
  EXPECT_EQ(render(src), "x y True [] b [] True");
}

TEST(ChatTemplateFeatures, In) {
  const char* src =
      R"JINJA({{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'role' in m }} {{ 'x' in m }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"m": {"role": "user"}})JSON")),
            "True True True True True False");
}

TEST(ChatTemplateFeatures, AttrAndIndex) {
  const char* src =
      R"JINJA({{ m.role }} {{ m['content'] }} {{ xs[0] }} {{ xs[-1] }} {{ m.items()|list }} {{ m.get('nope', 'dflt') }} {{ m.get('role') }} [{{ m.missing }}] [{{ xs[10] }}] {{ nested.a.b }} {{ nested['a']['b'] }})JINJA";
  EXPECT_EQ(
      render(
          src,
          ordered_json::parse(
              R"JSON({"m": {"role": "user", "content": "hi"}, "xs": [10, 20, 30], "nested": {"a": {"b": 5}}})JSON")),
      "user hi 10 30 [('role', 'user'), ('content', 'hi')] dflt user [] [] 5 5");
}

TEST(ChatTemplateFeatures, Slices) {
  const char* src =
      R"JINJA({{ xs[1:] }} {{ xs[:2] }} {{ xs[::-1] }} {{ xs[-2:] }} {{ xs[::2] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[-1] }} {{ s[:-1] }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"xs": [1, 2, 3, 4], "s": "héllo"})JSON")),
            "[2, 3, 4] [1, 2] [4, 3, 2, 1] [3, 4] [1, 3] él olléh o héll");
}

TEST(ChatTemplateFeatures, StringMethods) {
  const char* src =
      R"JINJA([{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxhixx'.strip('x') }}]{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a b c'.split(' ', 1) }} {{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ 'hello world'.title() }} {{ 'aXb'.replace('X', '-') }} {{ 'hello'.capitalize() }} {{ 'abcabc'.find('c') }} {{ '-'.join(['a', 'b']) }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"s": "  pad  "})JSON")),
            "[pad][pad  ][  pad][hi]['a', 'b', '', 'c']['a', 'b']['a', 'b c'] True True HI hi "
            "Hello World a-b Hello 2 a-b");
}

TEST(ChatTemplateFeatures, DictMethods) {
  const char* src =
      R"JINJA({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys()|list }}{{ d.values()|list }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"d": {"z": 1, "a": 2, "m": 3}})JSON")),
            "z=1;a=2;m=3;['z', 'a', 'm'][1, 2, 3]");
}

TEST(ChatTemplateFeatures, ForLoop) {
  const char* src =
      R"JINJA({% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}:{{ x }} {% endfor %})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"xs": ["a", "b", "c"]})JSON")),
            "1/0/3/2/True/False/3:a 2/1/2/1/False/False/3:b 3/2/1/0/False/True/3:c ");
}

TEST(ChatTemplateFeatures, ForElse) {
  const char* src =
      R"JINJA({% for x in xs %}{{ x }}{% else %}empty{% endfor %}|{% for x in [] %}{{ x }}{% else %}none{% endfor %})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"xs": [1]})JSON")), "1|none");
}

TEST(ChatTemplateFeatures, ForFilter) {
  const char* src =
      R"JINJA({% for x in xs if x % 2 == 0 %}{{ x }}({{ loop.index }}/{{ loop.length }}) {% endfor %})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"xs": [1, 2, 3, 4, 5, 6]})JSON")),
            "2(1/3) 4(2/3) 6(3/3) ");
}

TEST(ChatTemplateFeatures, ForUnpack) {
  const char* src =
      R"JINJA({% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}{% for k, v in {'x': 1}|items %}{{ k }}{{ v }}{% endfor %})JINJA";
  EXPECT_EQ(render(src), "3 7 x1");
}

TEST(ChatTemplateFeatures, LoopPrevNextCycle) {
  const char* src =
      R"JINJA({% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }} {{ loop.cycle('odd', 'even') }};{% endfor %})JINJA";
  EXPECT_EQ(render(src), "<1>2 odd;1<2>3 even;2<3> odd;");
}

TEST(ChatTemplateFeatures, BreakContinue) {
  const char* src =
      R"JINJA({% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %})JINJA";
  EXPECT_EQ(render(src), "0134");
}

TEST(ChatTemplateFeatures, NestedLoops) {
  const char* src =
      R"JINJA({% for i in range(3) %}{% for j in range(i) %}{{ i }}{{ j }}{{ loop.last }} {% endfor %}{{ loop.index }}|{% endfor %})JINJA";
  EXPECT_EQ(render(src), "1|10True 2|20False 21True 3|");
}

TEST(ChatTemplateFeatures, LoopScope) {
  const char* src =
      R"JINJA({% set x = 1 %}{% for i in [1, 2] %}{% set x = x + 10 %}{{ x }};{% endfor %}{{ x }})JINJA";
  EXPECT_EQ(render(src), "11;11;1");
}

TEST(ChatTemplateFeatures, Namespace) {
  const char* src =
      R"JINJA({% set ns = namespace(count=0, found=false) %}{% for i in range(4) %}{% set ns.count = ns.count + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }})JINJA";
  EXPECT_EQ(render(src), "6 True");
}

TEST(ChatTemplateFeatures, IfElif) {
  const char* src =
      R"JINJA({% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %})JINJA";
  EXPECT_EQ(render(src), "one two many ");
}

TEST(ChatTemplateFeatures, SetForms) {
  const char* src =
      R"JINJA({% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (3, 4) %}{{ t }}{% set block %}x{{ a }}y{% endset %}[{{ block }}])JINJA";
  EXPECT_EQ(render(src), "12(3, 4)[x1y]");
}

TEST(ChatTemplateFeatures, Macro) {
  const char* src =
      R"JINJA({% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }} {{ greet('Cy', 'Yo') }})JINJA";
  EXPECT_EQ(render(src), "Hello, Ann! Hi, Bob! Yo, Cy!");
}

TEST(ChatTemplateFeatures, Tests) {
  const char* src =
      R"JINJA({{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ n is none }} {{ s is string }} {{ d is mapping }} {{ l is iterable }} {{ s is iterable }} {{ 3 is number }} {{ 3 is integer }} {{ 3.0 is float }} {{ true is boolean }} {{ false is false }} {{ 1 is true }} {{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 'a' is in 'abc' }} {{ x is not none }} {{ 2 is eq 2 }} {{ d is not mapping }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(
                            R"JSON({"x": 1, "n": null, "s": "str", "d": {}, "l": []})JSON")),
            "True False True True True True True True True True True True True False True True "
            "True True True True False");
}

TEST(ChatTemplateFeatures, FiltersText) {
  const char* src =
      R"JINJA([{{ '  t  '|trim }}][{{ 'xyx'|trim('x') }}]{{ 'ab'|upper }} {{ 'AB'|lower }} {{ 'hello world-wide'|title }} {{ 'hELLO'|capitalize }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 42|string ~ '!' }} {{ '7'|int + 1 }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ '2.5'|float }} {{ -3|abs }})JINJA";
  EXPECT_EQ(render(src), "[t][y]AB ab Hello World-Wide Hello bba 42! 8 3 0 5 2.5 3");
}

TEST(ChatTemplateFeatures, FiltersSeq) {
  const char* src =
      R"JINJA({{ xs|length }} {{ 'héllo'|length }} {{ xs|first }} {{ xs|last }} {{ xs|join(', ') }} {{ 'abc'|list }} {{ xs|reverse|list }} {{ [3, 1, 2]|sort }} {{ [1, 2, 1]|unique|list }} {{ [1, 2, 3]|sum }} {{ [4, 9, 2]|max }} {{ [4, 9, 2]|min }} {{ {'b': 1, 'a': 2}|dictsort }} {{ xs|count }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"xs": ["a", "b", "c"]})JSON")),
            "3 5 a c a, b, c ['a', 'b', 'c'] ['c', 'b', 'a'] [1, 2, 3] [1, 2] 6 9 2 [('a', 2), "
            "('b', 1)] 3");
}

TEST(ChatTemplateFeatures, FiltersDefault) {
  const char* src =
      R"JINJA({{ missing|default('dflt') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ none|default('n') }} {{ x|d('z') }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"x": "set"})JSON")), "dflt  e None set");
}

TEST(ChatTemplateFeatures, FiltersSelect) {
  const char* src =
      R"JINJA({{ ms|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ ms|rejectattr('role', 'eq', 'user')|list|length }} {{ ms|selectattr('tool')|list|length }} {{ ms|map(attribute='role')|join(',') }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3]|reject('odd')|list }} {{ ['a', 'B']|map('upper')|list }} {{ ms|map(attribute='nope', default='-')|list }})JINJA";
  EXPECT_EQ(
      render(
          src,
          ordered_json::parse(
              R"JSON({"ms": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1", "tool": true}, {"role": "user", "content": "q2"}]})JSON")),
      "['q1', 'q2'] 1 1 user,assistant,user [1, 3] [2] ['A', 'B'] ['-', '-', '-']");
}

TEST(ChatTemplateFeatures, FiltersToJson) {
  const char* src = R"JINJA({{ d|tojson }}
{{ d|tojson(indent=2) }}
{{ [1, 'ü', none, true, 1.5, {'k': []}]|tojson }}
{{ d|tojson(separators=(',', ':')) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'say "hi"\n'|tojson }})JINJA";
  EXPECT_EQ(
      render(src, ordered_json::parse(
                      R"JSON({"d": {"name": "f", "args": {"x": [1, 2], "y": {}}}})JSON")),
      "{\"name\": \"f\", \"args\": {\"x\": [1, 2], \"y\": {}}}\n{\n  \"name\": \"f\",\n  \"args\": "
      "{\n    \"x\": [\n      1,\n      2\n    ],\n    \"y\": {}\n  }\n}\n[1, \"ü\", null, true, "
      "1.5, {\"k\": []}]\n{\"name\":\"f\",\"args\":{\"x\":[1,2],\"y\":{}}} {\"a\": 2, \"b\": 1} "
      "\"say \\\"hi\\\"\\n\"");
}

TEST(ChatTemplateFeatures, FiltersMisc) {
  const char* src =
      R"JINJA({{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 2.567|round(2) }} {{ 2.5|round }} {{ '<a&b>'|e }} {{ 'one two  three'|wordcount }} {{ {'a': 1}|items|list }})JINJA";
  EXPECT_EQ(render(src), "a\n  b\n\n  c|  a\n  b|2.57 2.0 &lt;a&amp;b&gt; 3 [('a', 1)]");
}

TEST(ChatTemplateFeatures, Whitespace) {
  const char* src = R"JINJA(<{%- if true -%}  x  {%- endif -%}>
  {% if true %}
    line
  {% endif %}
{{- ' tight ' -}}
  end {# comment #}
  {#- c -#}  !
{%+ if true %}kept-indent{% endif +%}
next)JINJA";
  EXPECT_EQ(render(src), "<x>\n    line\n tight end !\nkept-indent\nnext");
}

TEST(ChatTemplateFeatures, Raw) {
  const char* src =
      R"JINJA({% raw %}{{ not rendered }} {% if %}{% endraw %}|{%- raw -%}  x  {%- endraw -%}|)JINJA";
  EXPECT_EQ(render(src), "{{ not rendered }} {% if %}|x|");
}

TEST(ChatTemplateFeatures, TrimBlocks) {
  const char* src = R"JINJA({% for i in [1, 2] %}
  {{ i }}
{% endfor %}
{# c #}
after
    {% if true %}indented-tag{% endif %}
)JINJA";
  EXPECT_EQ(render(src), "  1\n  2\nafter\nindented-tag");
}

TEST(ChatTemplateFeatures, Undefined) {
  const char* src =
      R"JINJA([{{ nope }}][{{ nope|default('d') }}][{{ nope|length }}][{% for x in nope %}x{% endfor %}][{{ nope is defined }}][{{ m.nope is defined }}][{{ m['nope'] is none }}])JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"m": {}})JSON")),
            "[][d][0][][False][False][False]");
}

TEST(ChatTemplateFeatures, Range) {
  const char* src =
      R"JINJA({{ range(3)|list }} {{ range(1, 4)|list }} {{ range(5, 0, -2)|list }})JINJA";
  EXPECT_EQ(render(src), "[0, 1, 2] [1, 2, 3] [5, 3, 1]");
}

TEST(ChatTemplateFeatures, Strftime) {
  const char* src = R"JINJA({{ strftime_now('%Y') | length }})JINJA";
  EXPECT_EQ(render(src), "4");
}

TEST(ChatTemplateFeatures, ConditionalChain) {
  const char* src =
      R"JINJA({{ 'a' if x == 1 else 'b' if x == 2 else 'c' }}{{ 'a' if x == 1 else 'b' if x == 3 else 'c' }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"x": 2})JSON")), "bc");
}

TEST(ChatTemplateFeatures, FilterPrecedence) {
  const char* src =
      R"JINJA({{ 'a' + ' b '|trim + 'c' }} {{ -2|abs }} {{ xs|length > 1 }} {{ not xs|length }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"xs": [1, 2]})JSON")), "abc 2 True False");
}

TEST(ChatTemplateFeatures, Unicode) {
  const char* src =
      R"JINJA({{ s|length }} {{ s[0] }} {{ s[-1] }} {{ s.split('é') }} {{ s|tojson }} {{ s|list|length }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"s": "été 日本 🎉"})JSON")),
            "8 é 🎉 ['', 't', ' 日本 🎉'] \"été 日本 🎉\" 8");
}

TEST(ChatTemplateFeatures, DictLiteralBraces) {
  const char* src = R"JINJA({{ {'a': {'b': 1}} }}{{ {'x': [1, {'y': 2}]}['x'][1]['y'] }})JINJA";
  EXPECT_EQ(render(src), "{'a': {'b': 1}}2");
}

TEST(ChatTemplateFeatures, ReprOutput) {
  const char* src =
      R"JINJA({{ ['it\'s', "q\"", 'n\nl'] }} {{ (1,) }} {{ 1.0 }} {{ 1e-7 }} {{ 123456789012345678 }} {{ 1e22 }})JINJA";
  EXPECT_EQ(render(src), "[\"it's\", 'q\"', 'n\\nl'] (1,) 1.0 1e-07 123456789012345678 1e+22");
}

TEST(ChatTemplateFeatures, UnicodeCaseMapping) {
  const char* src =
      "{{ s|upper }}|{{ s|lower }}|{{ s|title }}|{{ s.title() }}|{{ s|capitalize }}|{{ "
      "'ÉTÉ'.lower() }}";
  ordered_json ctx = {{"s",
                       "été straße ΑΒΓ σς "
                       "привет ŁÓDŹ x1y"}};
  EXPECT_EQ(render(src, ctx),
            "ÉTÉ STRASSE ΑΒΓ ΣΣ ПРИВЕ"
            "Т ŁÓDŹ X1Y|été straße αβγ "
            "σς привет łódź x1y|Ét"
            "é Straße Αβγ Σς Приве"
            "т Łódź X1y|Été Straße Αβγ Σ"
            "ς Привет Łódź X1Y|Été "
            "straße αβγ σς привет "
            "łódź x1y|été");
}

TEST(ChatTemplateFeatures, WithAndFilterBlocks) {
  const char* src =
      R"JINJA({% set a = 1 %}{% with a = a + 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}{{ a }}[{{ b }}]|{% filter upper %}hello {{ 'w' }}{% endfilter %}|{% filter replace('a', 'o') %}banana{% endfilter %}|{% for i in range(3) %}{% with j = i * 2 %}{{ j }}{% if j == 2 %}{% break %}{% endif %}{% endwith %}{% endfor %})JINJA";
  EXPECT_EQ(render(src), "2x1[]|HELLO W|bonono|02");
}

TEST(ChatTemplateFeatures, GenerationBlockIsPassThrough) {
  // HF's {% generation %} marks assistant text for masks; rendering ignores the marker.
  EXPECT_EQ(render("a{% generation %}b{{ 1 }}{% endgeneration %}c"), "ab1c");
}

// ---------------------------------------------------------------------------------------------
// Errors: never a crash or a hang; a message with line:col.

TEST(ChatTemplateFeatures, PercentFormatting) {
  const char* src =
      R"JINJA({{ '%s=%d' % ('n', 3) }}|{{ '%5.2f|%-4s|%+03d|%#x|%e' % (3.14159, 'ab', 7, 255, 12345.678) }}|{{ '%(name)s: %(n)r' % {'name': 'x', 'n': 'é'} }}|{{ '%s' % [1, 'a'] }}|{{ '%d' % 2.9 }}|{{ '100%%' % () }})JINJA";
  EXPECT_EQ(render(src), "n=3| 3.14|ab  |+07|0xff|1.234568e+04|x: 'é'|[1, 'a']|2|100%");
}

TEST(ChatTemplateFeatures, FormatFilter) {
  const char* src =
      R"JINJA({%- for param in args %}{{ param }}={{ "%s" | format(args[param]) }}{% if not loop.last %}, {% endif %}{% endfor %}|{{ '%s-%s' | format('a', 1) }}|{{ '%(x)s' | format(x=true) }})JINJA";
  EXPECT_EQ(
      render(
          src,
          ordered_json::parse(
              R"JSON({"args": {"city": "Paris", "days": 3, "hourly": true, "tags": ["a", "b"], "opts": {"u": null}}})JSON")),
      "city=Paris, days=3, hourly=True, tags=['a', 'b'], opts={'u': None}|a-1|True");
}

TEST(ChatTemplateFeatures, StrFormat) {
  const char* src =
      R"JINJA({{ '{} {}'.format('a', 1) }}|{{ '{1}{0}{1}'.format('x', 'y') }}|{{ '{name}!'.format(name='n') }}|{{ '{0[city]} {0.days}'.format(args) }}|{{ '{:>6}|{:<4}|{:^7}|{:*^5}'.format('r', 'l', 'c', 1) }}|{{ '{:.2f} {:,} {:08.3f} {:+d} {:x} {:#b} {:.1%} {:e}'.format(3.14159, 1234567, -3.14159, 5, 255, 5, 0.256, 1500.0) }}|{{ '{!r} {{literal}}'.format('q') }}|{{ '{:.3} {}'.format(1.0, 2.5) }})JINJA";
  EXPECT_EQ(render(src, ordered_json::parse(R"JSON({"args": {"city": "Paris", "days": 3}})JSON")),
            "a 1|yxy|n!|Paris 3|     r|l   |   c   |**1**|3.14 1,234,567 -003.142 +5 ff 0b101 "
            "25.6% 1.500000e+03|'q' {literal}|1.0 2.5");
}

TEST(ChatTemplateFeatures, StringMethodsMore) {
  const char* src =
      R"JINJA({{ 'a b  c'.rsplit(' ', 1) }}{{ '  a b  c '.rsplit(None, 1) }}{{ ' a b '.split(None, 1) }}{{ 'k=v=w'.rsplit('=', 1) }}|{{ 'get_weather'.removeprefix('get_') }}|{{ 'x.json'.removesuffix('.json') }}|{{ 'a:b:c'.partition(':') }}{{ 'a:b:c'.rpartition(':') }}|{{ 'ab'.center(6, '*') }}|{{ 'ab'.ljust(4, '.') }}|{{ 'ab'.rjust(4) }}|{{ '-7'.zfill(4) }}|{{ 'a1'.isalnum() }}|{{ [3, 1, 3].count(3) }}{{ [3, 1, 3].index(1) }})JINJA";
  EXPECT_EQ(render(src),
            "['a b ', 'c']['  a b', 'c']['a', 'b ']['k=v', 'w']|weather|x|('a', ':', 'b:c')('a:b', "
            "':', 'c')|**ab**|ab..|  ab|-007|True|21");
}

TEST(ChatTemplateFeatures, ToJsonArguments) {
  const char* src =
      R"JINJA({{ d | tojson(ensure_ascii=true) }}|{{ d | tojson(true) }}|{{ d | tojson(false, 1) }}|{{ d | tojson(indent='\t', sort_keys=true) }}|{{ 'x\u007f\u2028' | tojson }})JINJA";
  EXPECT_EQ(
      render(src, ordered_json::parse(R"JSON({"d": {"z": "Zürich 🌤", "a": [1, null]}})JSON")),
      "{\"z\": \"Z\\u00fcrich \\ud83c\\udf24\", \"a\": [1, null]}|{\"z\": \"Z\\u00fcrich "
      "\\ud83c\\udf24\", \"a\": [1, null]}|{\n \"z\": \"Zürich 🌤\",\n \"a\": [\n  1,\n  null\n "
      "]\n}|{\n\t\"a\": [\n\t\t1,\n\t\tnull\n\t],\n\t\"z\": \"Zürich 🌤\"\n}|\"x\177 \"");
}

TEST(ChatTemplateFeatures, RoundLikePython) {
  const char* src =
      R"JINJA({{ 2.675 | round(2) }} {{ 0.125 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 3 | round }} {{ 1234.5 | round(-2) }} {{ 2.21 | round(1, 'ceil') }} {{ 2.29 | round(1, 'floor') }})JINJA";
  EXPECT_EQ(render(src), "2.67 0.12 2.0 4.0 3 1200.0 2.3 2.2");
}

TEST(ChatTemplateFeatures, MacroVarargsAndKwargs) {
  const char* src =
      R"JINJA({% macro m(a, b=2) %}{{ a }},{{ b }},{{ varargs }},{{ kwargs }}{% endmacro %}{{ m(1, 3, 4, c=5) }}|{% macro plain(a) %}{{ a }}{% endmacro %}{{ plain(a=7) }})JINJA";
  EXPECT_EQ(render(src), "1,3,(4,),{'c': 5}|7");
}

TEST(ChatTemplateFeatures, SandboxRefusesMutatingMethods) {
  const char* src =
      R"JINJA({{ d.update is defined }}{{ d.pop is defined }}{{ d['update'] }}{{ d.items is defined }}{{ d['items'] }}{{ d.copy() == d }}|{{ d.update }}|)JINJA";
  EXPECT_EQ(
      render(src, ordered_json::parse(R"JSON({"d": {"update": 1, "pop": 2, "items": 3}})JSON")),
      "FalseFalse1True3True||");
}

TEST(ChatTemplateFeatures, UnknownFilterInsideIfFailsOnlyWhenRun) {
  const char* src =
      R"JINJA({% if false %}{{ x | no_such_filter }}{% elif false and x is no_such_test %}{% endif %}{{ 1 if true else (2 | no_such_filter) }}{% if false %}{{ [] | groupby('a') }}{% endif %})JINJA";
  EXPECT_EQ(render(src), "1");
}

TEST(ChatTemplateFeatures, MoreJinjaFilters) {
  const char* src =
      R"JINJA({{ 'ab' | center(6) }}|{{ '<b>' | forceescape }}|{{ [1, 2, 3, 4, 5] | batch(2, 0) | list }}|{{ [1, 2, 3, 4, 5] | slice(2) | list }}|{{ 'Hello brave new world' | truncate(12) }}|{{ 'Hello brave new world' | truncate(12, true, '~') }})JINJA";
  EXPECT_EQ(render(src),
            "  ab  |&lt;b&gt;|[[1, 2], [3, 4], [5, 0]]|[[1, 2, 3], [4, 5]]|Hello...|Hello brave~");
}

TEST(ChatTemplateFeatures, SplitWithMaxsplitKeepsTheRemainderAsIs) {
  // Regression: the remainder of str.split(None, n) lost its trailing whitespace.
  EXPECT_EQ(render("{{ ' a b  '.split(None, 1) }}{{ '  a b '.rsplit(None, 1) }}"),
            "['a', 'b  ']['  a', 'b']");
}

TEST(ChatTemplateErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(render("{{ 1 + }}"), "ERROR: chat template 1:8: unexpected '}}'");
  EXPECT_EQ(render("ok\n{% if x %}\nno end"),
            "ERROR: chat template 3:7: unexpected end of template, expected 'elif' or 'else' or "
            "'endif'");
  EXPECT_EQ(render("{{ 'open }}"), "ERROR: chat template 1:4: unterminated string literal");
  EXPECT_EQ(render("a\n  {{ x"), "ERROR: chat template 2:3: unterminated expression: missing '}}'");
  EXPECT_EQ(render("{# never closed"), "ERROR: chat template 1:1: missing end of comment tag '#}'");
  EXPECT_EQ(render("{{ (1 ] }}"), "ERROR: chat template 1:7: unexpected ']', expected ')'");
  EXPECT_EQ(render("{{ a $ b }}"), "ERROR: chat template 1:6: unexpected character '$'");
  EXPECT_EQ(render("{% break %}"), "ERROR: chat template 1:4: 'break' outside of a loop");
}

TEST(ChatTemplateErrors, UnsupportedConstructsAreNamed) {
  EXPECT_EQ(render("line one\n  {% include 'other.jinja' %}"),
            "ERROR: chat template 2:6: unsupported construct: 'include' statement");
  EXPECT_EQ(render("{% extends 'base' %}"),
            "ERROR: chat template 1:4: unsupported construct: 'extends' statement");
  EXPECT_EQ(render("{{ x | frobnicate }}"),
            "ERROR: chat template 1:8: unsupported construct: no filter named 'frobnicate'");
  EXPECT_EQ(render("{% if x is prime %}{% endif %}"),
            "ERROR: chat template 1:12: unsupported construct: no test named 'prime'");
  EXPECT_EQ(render("{% for x in xs recursive %}{% endfor %}"),
            "ERROR: chat template 1:16: unsupported construct: recursive for loops");
}

TEST(ChatTemplateErrors, RuntimeErrorsNameLineAndColumn) {
  EXPECT_EQ(render("\n{{ 1 + 'a' }}"),
            "ERROR: chat template 2:6: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(render("{{ x.y.z }}", ordered_json::parse(R"({"x": {}})")),
            "ERROR: chat template 1:8: 'dict object' has no attribute 'y'");
  EXPECT_EQ(render("{{ 1 // 0 }}"), "ERROR: chat template 1:6: integer division or modulo by zero");
  EXPECT_EQ(render("{{ nope() }}"), "ERROR: chat template 1:8: 'nope' is undefined");
  EXPECT_EQ(render("{{ 9223372036854775807 + 1 }}"), "ERROR: chat template 1:24: integer overflow");
  EXPECT_EQ(render("{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
            "ERROR: chat template 1:4: cannot unpack 3 values into 2 names");
}

TEST(ChatTemplateErrors, RaiseExceptionMessageSurfaces) {
  const std::string src =
      "{% if messages[0]['role'] == 'system' %}\n"
      "  {{ raise_exception('System role not supported') }}\n"
      "{% endif %}";
  ordered_json ctx = {{"messages", {{{"role", "system"}, {"content", "x"}}}}};
  EXPECT_EQ(render(src, ctx), "ERROR: chat template 2:21: System role not supported");
}

TEST(ChatTemplateErrors, FormattingAndCallErrorsAreReported) {
  EXPECT_EQ(render("{{ '%s %s' % ('one',) }}"),
            "ERROR: chat template 1:12: not enough arguments for format string");
  EXPECT_EQ(render("{{ '%s' % (1, 2) }}"),
            "ERROR: chat template 1:9: not all arguments converted during string formatting");
  EXPECT_EQ(render("{{ '%d' % 'x' }}"),
            "ERROR: chat template 1:9: %d format: a real number is required, not str");
  EXPECT_EQ(
      render("{{ '{} {}'.format(1) }}"),
      "ERROR: chat template 1:18: Replacement index 1 out of range for positional args tuple");
  EXPECT_EQ(render("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=2) }}"),
            "ERROR: chat template 1:42: macro 'm' takes no keyword argument 'b'");
  EXPECT_EQ(render("{{ [] | groupby('a') }}"),
            "ERROR: chat template 1:9: unsupported construct: filter 'groupby'");
  EXPECT_EQ(render("{% set d = {} %}{{ d.update({'a': 1}) }}"),
            "ERROR: chat template 1:28: access to attribute 'update' of 'dict' object is unsafe.");
}

TEST(ChatTemplateErrors, EndlessLoopIsStopped) {
  // Loops over huge ranges, nested, would run for ages: the step budget stops them.
  auto tmpl = ChatTemplate::parse(
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
  ASSERT_TRUE(tmpl.ok());
  auto out = tmpl->render(ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("steps (an endless loop?)"), std::string::npos)
      << out.error().message;
  // The budget is configurable.
  ChatTemplate::Limits small;
  small.max_steps = 100;
  auto t2 = ChatTemplate::parse("{% for i in range(1000) %}{{ i }}{% endfor %}");
  ASSERT_TRUE(t2.ok());
  EXPECT_FALSE(t2->render(ordered_json::object(), small).ok());
  EXPECT_EQ(render("{{ range(1000000)|length }}"), "ERROR: chat template 1:9: range too large");
}

TEST(ChatTemplateErrors, InfiniteRecursionIsStopped) {
  EXPECT_EQ(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
            "ERROR: chat template 1:4: macro calls nested deeper than 100 (endless recursion?)");
}

TEST(ChatTemplateErrors, DeepNestingIsRejectedAtParse) {
  std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  std::string out = render(deep);
  EXPECT_NE(out.find("template nesting too deep"), std::string::npos) << out.substr(0, 200);
  std::string chain = "{{ 1";
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  out = render(chain + " }}");
  EXPECT_NE(out.find("template nesting too deep"), std::string::npos) << out.substr(0, 200);
  std::string filters = "{{ 'x'";
  for (int i = 0; i < 100000; ++i) filters += "|trim";
  out = render(filters + " }}");
  EXPECT_NE(out.find("template nesting too deep"), std::string::npos) << out.substr(0, 200);
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  out = render(ifs);
  EXPECT_NE(out.find("template nesting too deep"), std::string::npos) << out.substr(0, 200);
}

TEST(ChatTemplateErrors, OutputSizeIsBounded) {
  ChatTemplate::Limits small;
  small.max_output_bytes = 1000;
  auto t = ChatTemplate::parse("{% for i in range(100000) %}0123456789{% endfor %}");
  ASSERT_TRUE(t.ok());
  auto out = t->render(ordered_json::object(), small);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("output exceeded 1000 bytes"), std::string::npos);
  EXPECT_EQ(render("{{ 'x' * 10000000000 }}"),
            "ERROR: chat template 1:8: sequence repetition too large");
}

TEST(ChatTemplateErrors, ContextMustBeAnObject) {
  auto t = ChatTemplate::parse("x");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->render(ordered_json::array()).ok());
}

TEST(ChatTemplateErrors, MangledRealTemplatesNeverCrash) {
  // Deterministic mutations (cuts, deletions, insertions of template syntax) of every real
  // template: each must parse-and-render to a value or an Error, within the limits.
  const char* names[] = {"gemma2.jinja", "gemma3.jinja",  "llama3.2.jinja", "mistral_nemo.jinja",
                         "phi3.5.jinja", "qwen2.5.jinja", "qwen3.jinja",    "smollm2.jinja"};
  const char* snippets[] = {"{%", "%}", "{{", "}}",           "{#",         "(",    ")",
                            "[",  "]",  "'",  "\"",           "|",          " if ", " for ",
                            "-",  ".",  ",",  "{% endfor %}", "{% else %}", "\\"};
  const ordered_json ctx = ordered_json::parse(R"({
      "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                   {"role": "assistant", "content": "a"}, {"role": "user", "content": "u2"}],
      "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "tools": null})");
  ChatTemplate::Limits limits;
  limits.max_steps = 20000;
  limits.max_output_bytes = 1 << 20;
  uint64_t rng = 12345;
  auto next = [&rng](uint64_t n) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (rng >> 33) % n;
  };
  int ok = 0, failed = 0;
  for (const char* name : names) {
    const std::string src = read_file(std::string(kTestdata) + name);
    ASSERT_FALSE(src.empty()) << name;
    for (int iter = 0; iter < 300; ++iter) {
      std::string m = src;
      const int edits = 1 + static_cast<int>(next(3));
      for (int k = 0; k < edits; ++k) {
        const size_t at = next(m.size() + 1);
        switch (next(3)) {
          case 0:
            m.resize(at);
            break;
          case 1:
            m.erase(at, 1 + next(8));
            break;
          default:
            m.insert(at, snippets[next(std::size(snippets))]);
            break;
        }
      }
      auto tmpl = ChatTemplate::parse(m);
      if (!tmpl.ok()) {
        ++failed;
        EXPECT_NE(tmpl.error().message.find("chat template "), std::string::npos);
        continue;
      }
      auto out = tmpl->render(ctx, limits);
      out.ok() ? ++ok : ++failed;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0);
}

// ---------------------------------------------------------------------------------------------
// API details.

TEST(ChatTemplateApi, StrftimeNowFormatsTheLocalDate) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%d %b %Y", &tm);
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}"), buf);
}

TEST(ChatTemplateApi, PlainJsonContextWorks) {
  auto t = ChatTemplate::parse("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}");
  ASSERT_TRUE(t.ok());
  nlohmann::json ctx = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  auto out = t->render(ctx);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "user:hi;");
}

TEST(ChatTemplateApi, KeepsObjectKeyOrderInToJson) {
  EXPECT_EQ(render("{{ d|tojson }}", ordered_json::parse(R"({"d": {"z": 1, "a": 2}})")),
            R"({"z": 1, "a": 2})");
}

TEST(ChatTemplateApi, TrailingNewlineOfTemplateIsDropped) {
  EXPECT_EQ(render("a\n"), "a");
  EXPECT_EQ(render("a\n\n"), "a\n");
  EXPECT_EQ(render("a\r\nb"), "a\nb");
}

}  // namespace
}  // namespace shardserve
