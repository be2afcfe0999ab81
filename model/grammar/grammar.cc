#include "model/grammar/grammar.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "model/grammar/grammar_parser.h"
#include "model/grammar/utf8.h"

namespace shardserve {

using grammar::CharRange;
using grammar::Element;
using grammar::ElementKind;
using grammar::Location;
using grammar::ParsedGrammar;
using grammar::ParsedRule;
using grammar::RuleOrigin;

// Checks a parsed grammar as a whole and lays it out in Grammar's compiled form.
class GrammarBuilder {
 public:
  static Result<Grammar> build(ParsedGrammar parsed, std::string_view root_rule) {
    GrammarBuilder b(std::move(parsed));
    if (Status s = b.check_defined(); !s.ok()) return s.error();
    uint32_t root = 0;
    if (!b.find(root_rule, root)) {
      return Error::invalid_input(grammar::location_prefix({}) + "the grammar has no rule '" +
                                  std::string(root_rule) + "' (the start rule)");
    }
    if (Status s = b.check_left_recursion(); !s.ok()) return s.error();
    return b.lay_out(root);
  }

 private:
  explicit GrammarBuilder(ParsedGrammar parsed) : p_(std::move(parsed)) {}

  bool find(std::string_view name, uint32_t& id) const {
    for (uint32_t r = 0; r < p_.rules.size(); ++r) {
      if (p_.rules[r].origin == RuleOrigin::kUser && p_.rules[r].name == name &&
          p_.rules[r].defined) {
        id = r;
        return true;
      }
    }
    return false;
  }

  // The first (in the text) reference to a rule that has no definition.
  Status check_defined() const {
    const ParsedRule* first = nullptr;
    for (const ParsedRule& r : p_.rules) {
      if (r.defined) continue;
      if (!first || r.first_use.line < first->first_use.line ||
          (r.first_use.line == first->first_use.line &&
           r.first_use.column < first->first_use.column)) {
        first = &r;
      }
    }
    if (!first) return Status::Ok();
    return Error::invalid_input(grammar::location_prefix(first->first_use) + "rule '" +
                                first->name + "' is referenced but not defined");
  }

  // A rule that can reach itself without consuming input would make a top-down matcher
  // loop. Edges: r -> s when s can start r (everything before it in an alternative can
  // match the empty string); a cycle of such edges is left recursion.
  Status check_left_recursion() const {
    const size_t n = p_.rules.size();
    std::vector<uint8_t> nullable(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const grammar::Sequence& alt : p_.rules[r].alternatives) {
          const bool all = std::all_of(alt.begin(), alt.end(), [&](const grammar::Symbol& s) {
            return s.kind == ElementKind::kRule && nullable[s.value];
          });
          if (all) {
            nullable[r] = 1;
            changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<uint32_t>> starts(n);
    for (size_t r = 0; r < n; ++r) {
      for (const grammar::Sequence& alt : p_.rules[r].alternatives) {
        for (const grammar::Symbol& s : alt) {
          if (s.kind != ElementKind::kRule) break;
          starts[r].push_back(s.value);
          if (!nullable[s.value]) break;
        }
      }
    }
    // Iterative depth-first search; colour 1: on the current path, 2: done.
    std::vector<uint8_t> colour(n, 0);
    std::vector<std::pair<uint32_t, size_t>> path;  // (rule, next edge to follow)
    for (uint32_t start = 0; start < n; ++start) {
      if (colour[start]) continue;
      path.push_back({start, 0});
      colour[start] = 1;
      while (!path.empty()) {
        auto& [rule, edge] = path.back();
        if (edge == starts[rule].size()) {
          colour[rule] = 2;
          path.pop_back();
          continue;
        }
        const uint32_t next = starts[rule][edge++];
        if (colour[next] == 0) {
          colour[next] = 1;
          path.push_back({next, 0});
        } else if (colour[next] == 1) {
          std::vector<uint32_t> cycle;
          size_t i = path.size();
          while (path[i - 1].first != next) --i;
          for (; i <= path.size(); ++i) cycle.push_back(path[i - 1].first);
          return left_recursion_error(cycle);
        }
      }
    }
    return Status::Ok();
  }

  Error left_recursion_error(const std::vector<uint32_t>& cycle) const {
    for (uint32_t r : cycle) {
      if (p_.rules[r].origin == RuleOrigin::kRepeat) {
        return Error::invalid_input(
            grammar::location_prefix(p_.rules[r].where) +
            "left recursion: a repetition ('*', '+' or '{m,}') of an expression that can match "
            "the empty string would loop without consuming input");
      }
    }
    uint32_t shown = cycle[0];
    for (uint32_t r : cycle) {
      if (p_.rules[r].origin == RuleOrigin::kUser) {
        shown = r;
        break;
      }
    }
    std::string chain;
    for (uint32_t r : cycle) chain += p_.rules[r].name + " -> ";
    chain += p_.rules[cycle[0]].name;
    return Error::invalid_input(
        grammar::location_prefix(p_.rules[shown].where) + "left recursion: rule '" +
        p_.rules[shown].name + "' can reach itself without consuming input (" + chain +
        "), which a top-down matcher cannot handle; write the recursion as repetition, "
        "e.g. list ::= item (\",\" item)*");
  }

  Grammar lay_out(uint32_t root) {
    Grammar g;
    g.root_ = root;
    for (const std::vector<CharRange>& ranges : p_.classes) {
      Grammar::CharClass c{{0, 0}, static_cast<uint32_t>(g.ranges_.size()), 0};
      for (const CharRange& r : ranges) {
        g.ranges_.push_back(r);
        for (uint32_t cp = r.lo; cp <= r.hi && cp < 128; ++cp)
          c.ascii[cp >> 6] |= 1ull << (cp & 63);
      }
      c.end = static_cast<uint32_t>(g.ranges_.size());
      g.classes_.push_back(c);
    }
    std::vector<uint32_t> starts = {0};
    for (const CharRange& r : g.ranges_) {
      starts.push_back(r.lo);
      if (r.hi < grammar::kMaxCodePoint) starts.push_back(r.hi + 1);
    }
    std::sort(starts.begin(), starts.end());
    starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
    g.interval_starts_ = std::move(starts);
    g.tokens_ = p_.tokens;

    for (uint32_t r = 0; r < p_.rules.size(); ++r) {
      g.rule_names_.push_back(p_.rules[r].name);
      g.rule_alt_begin_.push_back(static_cast<uint32_t>(g.alt_starts_.size()));
      for (const grammar::Sequence& alt : p_.rules[r].alternatives) {
        g.alt_starts_.push_back(static_cast<uint32_t>(g.elements_.size()));
        for (const grammar::Symbol& s : alt) g.elements_.push_back({s.kind, s.value});
        g.elements_.push_back({ElementKind::kEnd, r});
      }
    }
    g.rule_alt_begin_.push_back(static_cast<uint32_t>(g.alt_starts_.size()));
    return g;
  }

  ParsedGrammar p_;
};

Result<Grammar> Grammar::parse(std::string_view gbnf, std::string_view root_rule) {
  Result<ParsedGrammar> parsed = grammar::parse_gbnf(gbnf);
  if (!parsed.ok()) return parsed.error();
  return GrammarBuilder::build(std::move(parsed).value(), root_rule);
}

bool Grammar::ranges_intersect(const CharClass& c, uint32_t lo, uint32_t hi) const {
  const CharRange* begin = ranges_.data() + c.begin;
  const CharRange* end = ranges_.data() + c.end;
  const CharRange* it =
      std::lower_bound(begin, end, lo, [](const CharRange& r, uint32_t v) { return r.hi < v; });
  return it != end && it->lo <= hi;
}

int32_t Grammar::token_index(std::string_view text) const {
  for (size_t k = 0; k < tokens_.size(); ++k) {
    if (tokens_[k] == text) return static_cast<int32_t>(k);
  }
  return -1;
}

uint32_t Grammar::interval_of(uint32_t cp) const {
  auto it = std::upper_bound(interval_starts_.begin(), interval_starts_.end(), cp);
  return static_cast<uint32_t>(it - interval_starts_.begin() - 1);
}

namespace {

void append_char(std::string& out, uint32_t cp, bool in_class) {
  const bool special =
      cp == '\\' || cp == '"' || (in_class && (cp == ']' || cp == '-' || cp == '^'));
  if (special) {
    out += '\\';
    out += static_cast<char>(cp);
  } else if (cp >= 0x20 && cp < 0x7F) {
    out += static_cast<char>(cp);
  } else {
    char buf[16];
    if (cp < 0x100) {
      std::snprintf(buf, sizeof(buf), "\\x%02X", static_cast<unsigned>(cp));
    } else if (cp < 0x10000) {
      std::snprintf(buf, sizeof(buf), "\\u%04X", static_cast<unsigned>(cp));
    } else {
      std::snprintf(buf, sizeof(buf), "\\U%08X", static_cast<unsigned>(cp));
    }
    out += buf;
  }
}

}  // namespace

std::string Grammar::to_string() const {
  std::string out;
  for (uint32_t r = 0; r < n_rules(); ++r) {
    out += rule_names_[r] + " ::=";
    bool first_alt = true;
    for (uint32_t start : alternatives(r)) {
      out += first_alt ? " " : " | ";
      first_alt = false;
      bool in_literal = false;
      bool first = true;
      for (uint32_t pos = start; elements_[pos].kind != ElementKind::kEnd; ++pos) {
        const Element& e = elements_[pos];
        const auto ranges =
            e.kind == ElementKind::kChars ? class_ranges(e.value) : std::span<const CharRange>();
        const bool token = ranges.size() == 1 && ranges[0].lo >= grammar::kTokenBase;
        const bool single = !token && ranges.size() == 1 && ranges[0].lo == ranges[0].hi;
        if (in_literal && !single) {
          out += '"';
          in_literal = false;
        }
        if (!first && !in_literal) out += ' ';
        first = false;
        if (e.kind == ElementKind::kRule) {
          out += rule_names_[e.value];
        } else if (token) {
          out += "@\"";
          grammar::Utf8State utf8;
          for (char ch : tokens_[ranges[0].lo - grammar::kTokenBase]) {
            uint32_t cp = 0;
            if (grammar::utf8_feed(utf8, static_cast<uint8_t>(ch), cp) ==
                grammar::Utf8Step::kComplete)
              append_char(out, cp, false);
          }
          out += '"';
        } else if (single) {
          if (!in_literal) out += '"';
          in_literal = true;
          append_char(out, ranges[0].lo, false);
        } else {
          out += '[';
          for (const CharRange& cr : ranges) {
            append_char(out, cr.lo, true);
            if (cr.hi != cr.lo) {
              out += '-';
              append_char(out, cr.hi, true);
            }
          }
          out += ']';
        }
      }
      if (in_literal) out += '"';
      if (first) out += "\"\"";
    }
    out += '\n';
  }
  return out;
}

}  // namespace shardserve
