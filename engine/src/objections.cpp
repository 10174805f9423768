// Objections files (objections.hpp): strict RFC 4180, one row per upheld objection.
#include "objections.hpp"

#include <array>
#include <optional>

#include "csv_header.hpp"
#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/policy.hpp"
#include "snapshot_format.hpp"

namespace optout::detail {
namespace {

enum Column : std::size_t { kNumber = 0, kScope = 1, kReference = 2, kDecided = 3, kColumns = 4 };
constexpr std::array<std::string_view, kColumns> kColumnNames = {"nhs_number", "scope", "reference", "decided"};

// One record's fields, and the line it starts on; the parser's position moves past it.
class RecordReader {
 public:
  explicit RecordReader(std::string_view text) : text_(text) {}

  bool done() const noexcept { return pos_ >= text_.size(); }
  std::uint64_t line() const noexcept { return line_; }

  // Reads the next record into fields; returns the problem, or an empty string.
  std::string next(std::vector<std::string>& fields) {
    fields.clear();
    start_line_ = line_;
    for (;;) {
      std::string field;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        ++pos_;
        for (;;) {
          if (pos_ >= text_.size()) return "a quoted field is not closed";
          const char c = text_[pos_++];
          if (c == '"') {
            if (pos_ < text_.size() && text_[pos_] == '"') {
              field += '"';
              ++pos_;
              continue;
            }
            break;
          }
          if (c == '\n') ++line_;
          field += c;
        }
        if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
          return "text after a closing quote";
        }
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
          if (text_[pos_] == '"') return "a quote inside an unquoted field";
          field += text_[pos_++];
        }
      }
      fields.push_back(std::move(field));
      if (pos_ >= text_.size()) return {};
      const char c = text_[pos_++];
      if (c == ',') continue;
      if (c == '\r') {
        if (pos_ >= text_.size() || text_[pos_] != '\n') return "bare CR (lines must end with LF or CRLF)";
        ++pos_;
      }
      ++line_;
      return {};
    }
  }

  std::uint64_t start_line() const noexcept { return start_line_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::uint64_t line_ = 1;
  std::uint64_t start_line_ = 1;
};

bool is_date(std::string_view text) { return text.size() == 10 && parse_iso_date(text).ok(); }

}  // namespace

Status parse_objections(std::string_view text, std::string_view source_name, ObjectionRows& out) {
  const std::string name(source_name);
  const auto fail = [&](std::uint64_t line, const std::string& what) {
    return Status(ErrorCode::kInvalidInput, name + ":" + std::to_string(line) + ": " + what);
  };
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  if (text.empty()) {
    return Status(ErrorCode::kInvalidInput,
                  name + ": empty: an objections file starts with the header nhs_number,scope");
  }
  RecordReader reader(text);
  std::vector<std::string> fields;
  if (std::string problem = reader.next(fields); !problem.empty()) return fail(reader.start_line(), problem);
  std::array<std::optional<std::size_t>, kColumns> at;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::size_t c = 0;
    while (c < kColumns && kColumnNames[c] != fields[i]) ++c;
    if (c == kColumns) {
      return fail(1, "column " + std::to_string(i + 1) +
                         " is not one of nhs_number, scope, reference, decided (the header takes no other column)");
    }
    if (at[c]) return fail(1, "column '" + std::string(kColumnNames[c]) + "' named twice");
    at[c] = i;
  }
  if (!at[kNumber] || !at[kScope]) {
    return fail(1, "the header must name nhs_number and scope (and may name reference and decided)");
  }
  const std::size_t columns = fields.size();
  while (!reader.done()) {
    if (std::string problem = reader.next(fields); !problem.empty()) return fail(reader.start_line(), problem);
    const std::uint64_t line = reader.start_line();
    if (fields.size() != columns) {
      return fail(line, std::to_string(fields.size()) + (fields.size() == 1 ? " field" : " fields") +
                            ", the header has " + std::to_string(columns));
    }
    const ParsedNhsNumber number = parse_nhs_number(fields[*at[kNumber]]);
    if (!number.valid()) return fail(line, std::string("nhs_number: ") + invalid_reason_text(number.reason));
    const std::string& scope = fields[*at[kScope]];
    if (Status s = validate_scope_name(scope); !s.ok()) return fail(line, "scope: " + s.message());
    if (at[kReference] && !fields[*at[kReference]].empty()) {
      if (Status s = validate_reference(fields[*at[kReference]]); !s.ok())
        return fail(line, "reference: " + s.message());
    }
    if (at[kDecided] && !fields[*at[kDecided]].empty() && !is_date(fields[*at[kDecided]])) {
      return fail(line, "decided: not a date of the form YYYY-MM-DD");
    }
    out.stems_by_scope[scope].push_back(number.stem);
    ++out.rows;
  }
  return Status();
}

Status read_objections(const std::filesystem::path& path, ObjectionRows& out) {
  Result<ReadOnlyFile> opened = ReadOnlyFile::open(path);
  if (!opened.ok()) return opened.status();
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    Result<std::size_t> n = opened->read(buffer, sizeof buffer);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    text.append(buffer, *n);
  }
  out.bytes = text.size();
  out.xxh3 = snapshot_checksum(text);
  return parse_objections(text, path.string(), out);
}

}  // namespace optout::detail
