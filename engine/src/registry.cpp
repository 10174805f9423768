// Registry queries, list names, digests and registry comparison.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "optout/registry.hpp"
#include "registry_data.hpp"
#include "snapshot_format.hpp"

namespace optout {
namespace {

// The data of Registry(): no lists, created_at 0, and the digest of that registry's encoding.
const std::shared_ptr<const detail::RegistryData>& empty_data() {
  static const std::shared_ptr<const detail::RegistryData> empty = [] {
    auto data = std::make_shared<detail::RegistryData>();
    const detail::SnapshotBytes bytes = detail::encode_snapshot(*data);
    data->digest = detail::snapshot_checksum(bytes.view().substr(0, bytes.size - detail::kSnapshotTrailerBytes));
    return std::shared_ptr<const detail::RegistryData>(std::move(data));
  }();
  return empty;
}

bool is_name_byte(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

const roaring_bitmap_t* bitmap_of(const detail::RegistryData& data, std::string_view name) {
  const auto it = std::lower_bound(data.lists.begin(), data.lists.end(), name,
                                   [](const ListInfo& info, std::string_view n) { return info.name < n; });
  if (it == data.lists.end() || it->name != name) return nullptr;
  return data.bitmaps[static_cast<std::size_t>(it - data.lists.begin())].get();
}

std::vector<std::uint32_t> to_vector(const roaring_bitmap_t* bitmap) {
  std::vector<std::uint32_t> out(roaring_bitmap_get_cardinality(bitmap));
  roaring_bitmap_to_uint32_array(bitmap, out.data());
  return out;
}

}  // namespace

const char* list_kind_name(ListKind kind) noexcept {
  switch (kind) {
    case ListKind::kDeny: return "deny";
    case ListKind::kAllow: return "allow";
  }
  return "unknown";
}

Status validate_list_name(std::string_view name) {
  constexpr std::size_t kMaxNameBytes = 64;
  if (name.empty()) return Status(ErrorCode::kInvalidArgument, "list name is empty");
  if (name.size() > kMaxNameBytes) {
    return Status(ErrorCode::kInvalidArgument, "list name is longer than 64 bytes");
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_byte(name[i])) {
      return Status(ErrorCode::kInvalidArgument,
                    "list name: byte " + std::to_string(i + 1) + " is not a letter, digit, '_', '.' or '-'");
    }
  }
  return Status();
}

Status validate_scope_name(std::string_view name) {
  constexpr std::size_t kMaxScopeBytes = 32;
  const auto scope_byte = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  if (name.empty() || name.size() > kMaxScopeBytes || !std::all_of(name.begin(), name.end(), scope_byte)) {
    return Status(ErrorCode::kInvalidArgument, "scope names are 1 to 32 of a-z, 0-9, '_' and '-'");
  }
  // Digits are allowed, but not a run that could be an NHS number: an objections file whose
  // columns are swapped would otherwise make one list per patient, named by the number, into
  // the snapshot, `info` and every audit record.
  if (redact_numbers(name) != name) {
    return Status(ErrorCode::kInvalidArgument, "a scope name looks like a number (6 or more digits), not a purpose");
  }
  return Status();
}

std::string objections_list_name(std::string_view scope) {
  std::string name("objections.");
  name.append(scope);
  return name;
}

std::string Digest128::hex() const {
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return std::string(text, 32);
}

// ---- Registry ---------------------------------------------------------------------------------

Registry::Registry() : data_(empty_data()) {}
Registry::~Registry() = default;
Registry::Registry(const Registry&) = default;
Registry& Registry::operator=(const Registry&) = default;
// Moves copy the pointer, so a moved-from Registry stays a valid registry (the same one).
Registry::Registry(Registry&& other) noexcept : data_(other.data_) {}
Registry& Registry::operator=(Registry&& other) noexcept {
  data_ = other.data_;
  return *this;
}
Registry::Registry(std::shared_ptr<const detail::RegistryData> data) : data_(std::move(data)) {}

const std::string& Registry::source() const noexcept { return data_->source; }

std::int64_t Registry::created_at() const noexcept { return data_->created_at; }

const std::string& Registry::description() const noexcept { return data_->description; }

const std::vector<ListInfo>& Registry::lists() const noexcept { return data_->lists; }

std::optional<std::size_t> Registry::find_list(std::string_view name) const noexcept {
  const auto& lists = data_->lists;
  const auto it = std::lower_bound(lists.begin(), lists.end(), name,
                                   [](const ListInfo& info, std::string_view n) { return info.name < n; });
  if (it == lists.end() || it->name != name) return std::nullopt;
  return static_cast<std::size_t>(it - lists.begin());
}

Result<std::size_t> Registry::require_list(std::string_view name) const {
  if (const std::optional<std::size_t> index = find_list(name)) return *index;
  // A name no list can have is a usage error (exit 2), not a missing list.
  if (Status s = validate_list_name(name); !s.ok()) return Status(s.code(), source() + ": " + s.message());
  std::string names;
  for (const ListInfo& list : lists()) names += (names.empty() ? "" : ", ") + redact_numbers(list.name);
  return Status(ErrorCode::kNotFound, source() + ": no list named '" + redact_numbers(name) +
                                          "' in the registry (it has: " + (names.empty() ? "no lists" : names) + ")");
}

bool Registry::contains(std::size_t index, std::uint32_t stem) const noexcept {
  return roaring_bitmap_contains(data_->bitmaps[index].get(), stem);
}

void Registry::contains_many(std::size_t index, std::span<const std::uint32_t> stems,
                             std::span<std::uint8_t> out) const noexcept {
  const roaring_bitmap_t* bitmap = data_->bitmaps[index].get();
  for (std::size_t i = 0; i < stems.size(); ++i) out[i] = roaring_bitmap_contains(bitmap, stems[i]) ? 1 : 0;
}

void Registry::for_each_stem(std::size_t index, const std::function<bool(std::uint32_t)>& f) const {
  roaring_iterate(
      data_->bitmaps[index].get(),
      [](std::uint32_t value, void* param) {
        return (*static_cast<const std::function<bool(std::uint32_t)>*>(param))(value);
      },
      const_cast<std::function<bool(std::uint32_t)>*>(&f));
}

std::vector<std::uint32_t> Registry::stems(std::size_t index) const { return to_vector(data_->bitmaps[index].get()); }

std::vector<std::string> Registry::purposes() const {
  std::vector<std::string> out;
  for (const ListInfo& info : data_->lists) out.insert(out.end(), info.scopes.begin(), info.scopes.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::uint64_t Registry::total_count() const noexcept {
  std::uint64_t total = 0;
  for (const ListInfo& info : data_->lists) total += info.count;
  return total;
}

std::uint64_t Registry::memory_bytes() const noexcept {
  std::uint64_t total = 0;
  for (const ListInfo& info : data_->lists) total += info.memory_bytes;
  return total;
}

const Digest128& Registry::digest() const noexcept { return data_->digest; }

const std::vector<ListProvenance>& Registry::provenance() const noexcept { return data_->provenance; }

const ListProvenance* Registry::provenance_of(std::string_view list) const noexcept {
  const auto& all = data_->provenance;
  const auto it = std::lower_bound(all.begin(), all.end(), list,
                                   [](const ListProvenance& p, std::string_view n) { return p.list < n; });
  if (it == all.end() || it->list != list) return nullptr;
  return &*it;
}

std::int64_t Registry::data_as_of(std::span<const std::string> lists) const {
  const auto as_of = [&](std::string_view list) {
    const ListProvenance* p = provenance_of(list);
    return p != nullptr && p->as_of ? *p->as_of : data_->created_at;
  };
  if (lists.empty()) {
    // No list: the build time, as a list without an as-of date counts it.
    std::int64_t oldest = data_->created_at;
    if (!data_->lists.empty()) {
      oldest = as_of(data_->lists.front().name);
      for (const ListInfo& info : data_->lists) oldest = std::min(oldest, as_of(info.name));
    }
    return oldest;
  }
  std::int64_t oldest = as_of(lists.front());
  for (const std::string& list : lists) oldest = std::min(oldest, as_of(list));
  return oldest;
}

const std::optional<PublicKey>& Registry::signer() const noexcept { return data_->signer; }

// ---- Trust ------------------------------------------------------------------------------------

Status check_trust(std::string_view source, const std::optional<PublicKey>& signer,
                   std::span<const PublicKey> trusted) {
  if (trusted.empty()) return Status();
  if (!signer) {
    return Status(ErrorCode::kUntrusted,
                  std::string(source) + ": unsigned: a registry signed by a trusted key is required");
  }
  std::string ids;
  for (const PublicKey& key : trusted) {
    if (key == *signer) return Status();
    ids += (ids.empty() ? "" : ", ") + key.key_id();
  }
  return Status(ErrorCode::kUntrusted, std::string(source) + ": signed by key " + signer->key_id() +
                                           ", which is not trusted (trusted: " + ids + ")");
}

Status check_expected_digest(std::string_view source, const Digest128& digest, std::string_view expected_hex) {
  std::array<std::uint8_t, 16> expected{};
  if (!decode_hex(expected_hex, expected)) {
    return Status(ErrorCode::kInvalidArgument, "the expected digest takes 32 hex digits (optout info shows it)");
  }
  // Digest128::hex() is lower-case; compare in that form.
  const std::string wanted = to_hex(expected);
  const std::string actual = digest.hex();
  if (actual == wanted) return Status();
  return Status(ErrorCode::kUntrusted, std::string(source) + ": digest " + actual + " is not the expected " + wanted);
}

// ---- Comparing --------------------------------------------------------------------------------

std::vector<ListDiff> diff_registries(const Registry& older, const Registry& newer) {
  const auto& a = detail::RegistryAccess::data(older);
  const auto& b = detail::RegistryAccess::data(newer);
  std::vector<ListDiff> out;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.lists.size() || j < b.lists.size()) {
    ListDiff d;
    const bool take_old = i < a.lists.size() && (j == b.lists.size() || a.lists[i].name <= b.lists[j].name);
    const bool take_new = j < b.lists.size() && (i == a.lists.size() || b.lists[j].name <= a.lists[i].name);
    if (take_old && take_new) {
      const roaring_bitmap_t* x = a.bitmaps[i].get();
      const roaring_bitmap_t* y = b.bitmaps[j].get();
      d.name = a.lists[i].name;
      d.old_kind = a.lists[i].kind;
      d.new_kind = b.lists[j].kind;
      d.added = roaring_bitmap_andnot_cardinality(y, x);
      d.withdrawn = roaring_bitmap_andnot_cardinality(x, y);
      d.old_scopes = a.lists[i].scopes;
      d.new_scopes = b.lists[j].scopes;
      ++i;
      ++j;
    } else if (take_old) {
      d.name = a.lists[i].name;
      d.old_kind = a.lists[i].kind;
      d.withdrawn = a.lists[i].count;
      d.old_scopes = a.lists[i].scopes;
      ++i;
    } else {
      d.name = b.lists[j].name;
      d.new_kind = b.lists[j].kind;
      d.added = b.lists[j].count;
      d.new_scopes = b.lists[j].scopes;
      ++j;
    }
    out.push_back(std::move(d));
  }
  return out;
}

Result<ListChanges> list_changes(const Registry& older, const Registry& newer, std::string_view name) {
  const roaring_bitmap_t* x = bitmap_of(detail::RegistryAccess::data(older), name);
  const roaring_bitmap_t* y = bitmap_of(detail::RegistryAccess::data(newer), name);
  if (x == nullptr && y == nullptr) {
    // A name that is not a valid list name is not echoed: it could be anything, a number included.
    std::string message = "no list ";
    if (validate_list_name(name).ok()) {
      message.append("'").append(redact_numbers(name)).append("'");
    } else {
      message.append("of that name");
    }
    return Status(ErrorCode::kNotFound, message.append(" in either registry"));
  }
  ListChanges changes;
  if (x == nullptr) {
    changes.added = to_vector(y);
  } else if (y == nullptr) {
    changes.withdrawn = to_vector(x);
  } else {
    const detail::RoaringPtr added(roaring_bitmap_andnot(y, x));
    const detail::RoaringPtr withdrawn(roaring_bitmap_andnot(x, y));
    if (!added || !withdrawn) return Status(ErrorCode::kInternal, "out of memory comparing lists");
    changes.added = to_vector(added.get());
    changes.withdrawn = to_vector(withdrawn.get());
  }
  return changes;
}

std::string iso_date_utc(std::int64_t unix_seconds) {
  const std::string text = iso8601_utc(unix_seconds);
  return text.starts_with('@') ? text : text.substr(0, 10);
}

Result<std::int64_t> parse_iso_date(std::string_view text) {
  const auto bad = [] {
    return Status(ErrorCode::kInvalidArgument, "the as-of date takes YYYY-MM-DD, e.g. 2026-11-24");
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  const auto number = [&](std::size_t from, std::size_t count, int& out) {
    out = 0;
    for (std::size_t i = from; i < from + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int year = 0;
  int month = 0;
  int day = 0;
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day)) return bad();
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (year < 1970 || !date.ok()) return bad();
  return static_cast<std::int64_t>(std::chrono::sys_days(date).time_since_epoch().count()) * 86400;
}

std::string iso8601_utc(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char text[32];
  if (gmtime_r(&t, &tm) == nullptr || std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::string("@").append(std::to_string(unix_seconds));
  }
  return text;
}

}  // namespace optout
