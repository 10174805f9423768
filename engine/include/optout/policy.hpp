// Policy as data: which lists a run applies, chosen by the purpose of the release (issue 14).
//
// A list may be scoped to purposes (RegistryBuilder::set_scopes, `optout build --scope`): a run
// for a purpose (--purpose research) applies every list whose scope includes it, plus every list
// without a scope (which applies to every purpose). A release exempt from a list (a CAG approval
// without the standard condition, COPI, ONS) names it with a reference (--exempt LIST=REFERENCE);
// the list is then not applied, and the audit record shows it with its count, as-of date and the
// reference. select_lists() is the one rule: filter, verify, the C API, Python and Dask call it
// (through OptOutIndex::create(registry, selection)), none of them re-checks it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"

namespace optout {

// A list a release is exempt from, and why (free text such as "CAG 20/CAG/0001").
struct Exemption {
  std::string list;
  std::string reference;
  friend bool operator==(const Exemption&, const Exemption&) = default;
};

// The longest reference, in bytes.
inline constexpr std::size_t kMaxReferenceBytes = 200;

// A reference (an exemption's, or an objection's): 1 to 200 bytes of UTF-8 without control
// characters, and nothing that looks like an NHS number: no run of 9 or more digits, counting
// across single spaces or dashes between digits ("943 476 5919", "20-1234-5678" are refused;
// "CAG 20/CAG/0001", "COPI 2020" pass). kInvalidArgument naming the rule broken, never the text.
[[nodiscard]] OPTOUT_API Status validate_reference(std::string_view reference);

// "LIST=REFERENCE" (--exempt, the Python strings) → an Exemption; the reference is everything
// after the first '='. kInvalidArgument "--exempt LIST needs a reference: LIST=REFERENCE, e.g.
// national=CAG 20/CAG/0001" without '=', validate_list_name's and validate_reference's errors.
[[nodiscard]] OPTOUT_API Result<Exemption> parse_exemption(std::string_view text);

// What a run is asked to apply: lists by name (apply; empty: every list), or by purpose, less
// exemptions. As FilterRequest and VerifyRequest carry it.
struct ListSelection {
  std::vector<std::string> apply;
  std::optional<std::string> purpose;
  std::vector<Exemption> exemptions;
};

// A list left out by an exemption, as the audit record shows it.
struct ExemptedList {
  std::string list;
  ListKind kind = ListKind::kDeny;
  std::uint64_t count = 0;
  std::optional<std::int64_t> as_of;  // ListProvenance::as_of
  std::string reference;
};

// The lists a selection applies, and what it left out.
struct SelectedLists {
  std::vector<std::string> apply;      // registry order; for a purpose, never empty
  std::optional<std::string> purpose;  // the selection's
  std::vector<ExemptedList> exempted;  // in the order the exemptions were given
};

// The one selection rule. Without a purpose: apply as given (exemptions are refused). With one:
// the lists whose scope includes it and every unscoped list, less the exempted ones.
// Errors, kInvalidArgument (a usage error), messages starting with registry.source() where they
// name the registry:
//   "--purpose and --apply exclude each other: a purpose chooses the lists";
//   "--exempt needs --purpose: an exemption leaves a list out of a purpose's lists";
//   a purpose that is not a scope name (validate_scope_name);
//   "SOURCE: no list is scoped to purpose 'x' (the registry's purposes: planning, research)", or
//   "(the registry names no purpose: give lists scopes with optout build --scope)";
//   "--exempt LIST: purpose 'x' does not apply list 'LIST'" (also for a list the registry lacks);
//   "--exempt LIST: the list is exempted twice";
//   "purpose 'x': every list it applies is exempted, so nothing would be applied" (fail closed);
//   and those of validate_list_name / validate_reference for a malformed exemption.
// Names in messages pass through redact_numbers().
[[nodiscard]] OPTOUT_API Result<SelectedLists> select_lists(const Registry& registry, const ListSelection& selection);

}  // namespace optout
