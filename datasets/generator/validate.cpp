#include "validate.hpp"

#include <algorithm>
#include <memory>
#include <string_view>

#include "optout/io.hpp"  // open_file_source, ByteSource
#include "optout/nhs_number.hpp"

namespace optout::gen {
namespace {

constexpr std::size_t kReadBytes = 1 << 20;

class LineChecker {
 public:
  LineChecker(const std::string& path, bool check_unique) : path_(path), check_unique_(check_unique) {}

  void line(std::string_view text) {
    ++report_.numbers;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (!text.empty() && text.back() == ',') text.remove_suffix(1);
    const ParsedNhsNumber parsed = parse_nhs_number(text);
    if (!parsed.valid()) {
      ++report_.invalid;
      note(invalid_reason_text(parsed.reason));
    } else if (check_unique_) {
      stems_.push_back(parsed.stem);
    }
  }

  ValidateReport finish() {
    if (check_unique_) {
      std::sort(stems_.begin(), stems_.end());
      for (std::size_t i = 1; i < stems_.size(); ++i) {
        if (stems_[i] == stems_[i - 1]) ++report_.duplicates;
      }
      if (report_.duplicates > 0 && report_.messages.size() < ValidateReport::kMaxMessages) {
        report_.messages.push_back(path_ + ": " + std::to_string(report_.duplicates) + " duplicate numbers");
      }
    }
    return std::move(report_);
  }

 private:
  void note(const char* reason) {
    if (report_.messages.size() < ValidateReport::kMaxMessages) {
      report_.messages.push_back(path_ + ":" + std::to_string(report_.numbers) + ": " + reason);
    }
  }

  std::string path_;
  bool check_unique_;
  ValidateReport report_;
  std::vector<std::uint32_t> stems_;
};

}  // namespace

Result<ValidateReport> validate_list(const std::string& path, bool check_unique) {
  Result<std::unique_ptr<ByteSource>> source = open_file_source(path);
  if (!source.ok()) return source.status();
  LineChecker checker(path, check_unique);
  std::string buffer;
  std::string pending;  // a line split across reads
  buffer.resize(kReadBytes);
  for (;;) {
    Result<std::size_t> n = (*source)->read(buffer.data(), buffer.size());
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    std::string_view data(buffer.data(), *n);
    for (std::size_t nl; (nl = data.find('\n')) != std::string_view::npos; data.remove_prefix(nl + 1)) {
      if (pending.empty()) {
        checker.line(data.substr(0, nl));
      } else {
        pending.append(data.substr(0, nl));
        checker.line(pending);
        pending.clear();
      }
    }
    pending.append(data);
  }
  if (!pending.empty()) checker.line(pending);
  return checker.finish();
}

}  // namespace optout::gen
