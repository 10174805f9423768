// What the engine's tests share: a scratch folder, whole-file reads and writes, and the small
// registry and index most filter tests run against. Test code only; it reads the engine's public
// API and nothing else (tests/reference_filter.hpp stays independent of it and of the engine).
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "optout/filter.hpp"
#include "optout/registry.hpp"

namespace optout::testing {

namespace fs = std::filesystem;

// 943476591 → 9434765919, the stem the small test registries list; 4010232137 is not listed.
inline constexpr std::uint32_t kListed = 943476591;

// The bytes of the file at path ("" when it cannot be read).
inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Writes bytes to path, replacing what was there; returns path.
inline fs::path write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// The names in a folder, sorted.
inline std::vector<std::string> folder_entries(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// n with its digits written as letters (0 → a, 9 → j). Paths in messages the tests compare must not
// hold 6 digits in a row, which the engine redacts (redact_numbers), as a process id may.
inline std::string in_letters(unsigned long n) {
  std::string text = std::to_string(n);
  for (char& c : text) c = static_cast<char>('a' + (c - '0'));
  return text;
}

// A new empty folder under the system's temporary directory, named after the process and a
// counter (so each TempDir of a test program is its own), removed with what it holds when
// destroyed. Example: TempDir dir; load_registry(dir.file("r.optout", bytes));
class TempDir {
 public:
  TempDir()
      : path_(fs::temp_directory_path() /
              ("optout-test-" + in_letters(static_cast<unsigned long>(::getpid())) + "-" + in_letters(counter_++))) {
    fs::remove_all(path_);  // left by an earlier process of this id that crashed
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;  // a test that failed half way may leave a folder it cannot remove
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  // Writes content to the file name in the folder and returns its path.
  fs::path file(const std::string& name, std::string_view content) const { return write_file(path_ / name, content); }
  std::string read(const std::string& name) const { return read_file(path_ / name); }
  std::vector<std::string> entries() const { return folder_entries(path_); }

 private:
  static inline unsigned long counter_ = 0;
  fs::path path_;
};

// A fixture with its own scratch folder, dir_, and helpers naming the files in it.
class TempDirTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string read(const std::string& name) const { return temp_.read(name); }
  void write(const std::string& name, std::string_view bytes) const { temp_.file(name, bytes); }
  std::vector<std::string> files() const { return temp_.entries(); }

  TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

// A TempDirTest whose folder starts with an input, in.csv, and two links to it: hard.csv and
// soft.csv (symbolic).
class InputFolderTest : public TempDirTest {
 protected:
  void SetUp() override {
    std::ofstream(dir_ / "in.csv") << "a\n";
    fs::create_hard_link(dir_ / "in.csv", dir_ / "hard.csv");
    fs::create_symlink(dir_ / "in.csv", dir_ / "soft.csv");
  }
};

// A registry built at 1 700 000 000 with one deny list "national" holding deny and, when
// with_allow, an allow list "cleared" holding allow. A failed step fails the calling test.
inline Registry make_registry(const std::vector<std::uint32_t>& deny, const std::vector<std::uint32_t>& allow = {},
                              bool with_allow = false) {
  RegistryBuilder builder;
  EXPECT_TRUE(builder.add_stems("national", ListKind::kDeny, deny).ok());
  if (with_allow) {
    EXPECT_TRUE(builder.add_stems("cleared", ListKind::kAllow, allow).ok());
  }
  Result<Registry> registry = builder.build(1'700'000'000);
  EXPECT_TRUE(registry.ok()) << registry.status().message();
  return std::move(registry).value();
}

// A list of a registry that make_registry builds from a list of them.
struct ListSpec {
  std::string name;
  ListKind kind;
  std::vector<std::uint32_t> stems;
};

// A registry of the given lists, built at created_at, with the given description; an empty
// registry (and a failed test) when a list is refused.
inline Registry make_registry(std::initializer_list<ListSpec> lists, std::int64_t created_at = 1'700'000'000,
                              std::string description = "test") {
  RegistryBuilder b;
  b.set_description(std::move(description));
  for (const ListSpec& l : lists) {
    EXPECT_TRUE(b.add_stems(l.name, l.kind, l.stems).ok()) << l.name;
  }
  auto r = b.build(created_at);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : Registry();
}

// The index applying the lists named in apply (every list when empty).
inline OptOutIndex make_index(const Registry& registry, std::vector<std::string> apply = {}) {
  Result<OptOutIndex> index = OptOutIndex::create(registry, apply);
  EXPECT_TRUE(index.ok()) << index.status().message();
  return std::move(index).value();
}

// Options that find the NHS-number column by its header name.
inline FilterOptions by_name(std::string name = "nhs_number") {
  FilterOptions options;
  options.column_name = std::move(name);
  return options;
}

}  // namespace optout::testing
