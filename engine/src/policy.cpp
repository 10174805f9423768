// Purpose selection, exemptions and references (policy.hpp): the one rule filter, verify and the
// bindings choose lists by.
#include "optout/policy.hpp"

#include <algorithm>

#include "snapshot_format.hpp"

namespace optout {
namespace {

Status invalid(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// The longest run of digits in text, counting across single spaces or dashes between digits.
std::size_t longest_digit_run(std::string_view text) noexcept {
  std::size_t longest = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      ++i;
      continue;
    }
    std::size_t digits = 0;
    while (i < text.size()) {
      if (is_digit(text[i])) {
        ++digits;
        ++i;
      } else if ((text[i] == ' ' || text[i] == '-') && i + 1 < text.size() && is_digit(text[i + 1])) {
        ++i;
      } else {
        break;
      }
    }
    longest = std::max(longest, digits);
  }
  return longest;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + redact_numbers(name);
  return out;
}

}  // namespace

Status validate_reference(std::string_view reference) {
  constexpr std::size_t kNhsLikeDigits = 9;
  if (reference.empty()) return invalid("the reference is empty");
  if (reference.size() > kMaxReferenceBytes) return invalid("the reference is longer than 200 bytes");
  if (!detail::is_valid_utf8(reference)) return invalid("the reference is not valid UTF-8");
  for (const char c : reference) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return invalid("the reference holds a control character");
  }
  if (longest_digit_run(reference) >= kNhsLikeDigits) {
    return invalid("the reference holds a run of 9 or more digits, which may be an NHS number");
  }
  return Status();
}

Result<Exemption> parse_exemption(std::string_view text) {
  const auto equals = text.find('=');
  if (equals == std::string_view::npos) {
    return invalid("--exempt LIST needs a reference: LIST=REFERENCE, e.g. national=CAG 20/CAG/0001");
  }
  Exemption exemption{std::string(text.substr(0, equals)), std::string(text.substr(equals + 1))};
  if (Status s = validate_list_name(exemption.list); !s.ok()) return invalid("--exempt: " + s.message());
  if (Status s = validate_reference(exemption.reference); !s.ok()) {
    return invalid("--exempt " + redact_numbers(exemption.list) + ": " + s.message());
  }
  return exemption;
}

Result<SelectedLists> select_lists(const Registry& registry, const ListSelection& selection) {
  SelectedLists out;
  if (!selection.purpose) {
    if (!selection.exemptions.empty()) {
      return invalid("--exempt needs --purpose: an exemption leaves a list out of a purpose's lists");
    }
    out.apply = selection.apply;
    return out;
  }
  const std::string& purpose = *selection.purpose;
  if (!selection.apply.empty()) return invalid("--purpose and --apply exclude each other: a purpose chooses the lists");
  if (Status s = validate_scope_name(purpose); !s.ok()) return invalid("--purpose: " + s.message());
  const std::vector<std::string> known = registry.purposes();
  if (!std::binary_search(known.begin(), known.end(), purpose)) {
    return invalid(registry.source() + ": no list is scoped to purpose '" + redact_numbers(purpose) + "' " +
                   (known.empty() ? "(the registry names no purpose: give lists scopes with optout build --scope)"
                                  : "(the registry's purposes: " + join(known) + ")"));
  }
  out.purpose = purpose;
  const std::vector<ListInfo>& lists = registry.lists();
  std::vector<bool> applies(lists.size());
  for (std::size_t i = 0; i < lists.size(); ++i) {
    const auto& scopes = lists[i].scopes;
    applies[i] = scopes.empty() || std::binary_search(scopes.begin(), scopes.end(), purpose);
  }
  std::vector<bool> exempted(lists.size());
  for (const Exemption& e : selection.exemptions) {
    if (Status s = validate_list_name(e.list); !s.ok()) return invalid("--exempt: " + s.message());
    if (Status s = validate_reference(e.reference); !s.ok()) {
      return invalid("--exempt " + redact_numbers(e.list) + ": " + s.message());
    }
    const std::optional<std::size_t> at = registry.find_list(e.list);
    if (!at || !applies[*at]) {
      return invalid("--exempt " + redact_numbers(e.list) + ": purpose '" + redact_numbers(purpose) +
                     "' does not apply list '" + redact_numbers(e.list) + "'");
    }
    if (exempted[*at]) return invalid("--exempt " + redact_numbers(e.list) + ": the list is exempted twice");
    exempted[*at] = true;
    const ListProvenance* provenance = registry.provenance_of(e.list);
    out.exempted.push_back({lists[*at].name, lists[*at].kind, lists[*at].count,
                            provenance != nullptr ? provenance->as_of : std::nullopt, e.reference});
  }
  for (std::size_t i = 0; i < lists.size(); ++i) {
    if (applies[i] && !exempted[i]) out.apply.push_back(lists[i].name);
  }
  if (out.apply.empty()) {
    return invalid("purpose '" + redact_numbers(purpose) +
                   "': every list it applies is exempted, so nothing would be applied");
  }
  return out;
}

}  // namespace optout
