// Fault injection for tests: a ByteSource and a ByteSink that fail at their k-th call, so that a test
// can walk k from 1 until a run succeeds and check every way a read or a write can go wrong.
//
//   for (std::size_t k = 1;; ++k) {
//     FaultySource in(csv, "extract.csv", {.at = k, .kind = Fault::kError});
//     Result<FilterStats> run = filter(in, out, nullptr, index, options);
//     if (!in.fired()) { /* the run never reached call k: it must have succeeded */ break; }
//     /* else the run must have failed with in.injected() */
//   }
//
// The kinds:
//   kShortRead  the k-th read returns 1 byte (a legal short read: the run must still succeed,
//               byte-identical);
//   kError      the k-th call returns the error a file descriptor would give (kIoError, with
//               strerror(error_number) as FdSource/FdSink word it: EIO, ENOSPC, ...);
//   kBrokenPipe the k-th write returns kBrokenPipe (a sink's reader went away).
// A fault fires once; later calls succeed again (a harsher test than a sticky failure: a caller
// that ignores one error would go on as if nothing happened).
//
// The same at the system-call level, for the real CLI and the Python module, is the LD_PRELOAD
// shim tests/fault_shim.c.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "optout/filter.hpp"
#include "optout/status.hpp"

namespace optout::testing {

enum class Fault { kShortRead, kError, kBrokenPipe };

struct FaultPlan {
  std::size_t at = 0;  // the 1-based call that fails; 0: none
  Fault kind = Fault::kError;
  int error_number = EIO;
};

inline const char* fault_name(Fault kind) {
  switch (kind) {
    case Fault::kShortRead: return "short read";
    case Fault::kError: return "error";
    case Fault::kBrokenPipe: return "broken pipe";
  }
  return "?";
}

// Reads data in pieces of at most chunk bytes (a small chunk makes many calls); the plan's call fails.
class FaultySource final : public ByteSource {
 public:
  FaultySource(std::string_view data, std::string name, FaultPlan plan, std::size_t chunk = 4096)
      : data_(data), name_(std::move(name)), plan_(plan), chunk_(std::max<std::size_t>(chunk, 1)) {}

  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    ++calls_;
    std::size_t n = std::min({capacity, chunk_, data_.size() - pos_});
    if (calls_ == plan_.at) {
      fired_ = true;
      switch (plan_.kind) {
        case Fault::kShortRead: n = std::min<std::size_t>(n, 1); break;
        case Fault::kError: return injected();
        case Fault::kBrokenPipe: return injected();
      }
    }
    std::memcpy(buffer, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  const std::string& name() const override { return name_; }

  // The status the faulty call returned.
  Status injected() const {
    return Status(ErrorCode::kIoError, name_ + ": read failed: " + std::strerror(plan_.error_number));
  }
  bool fired() const { return fired_; }
  std::size_t calls() const { return calls_; }

 private:
  std::string_view data_;
  std::string name_;
  FaultPlan plan_;
  std::size_t chunk_;
  std::size_t pos_ = 0;
  std::size_t calls_ = 0;
  bool fired_ = false;
};

// Appends to a string; the plan's call fails having written nothing of its spans (a sink that
// fails part-way leaves what it wrote; the caller must discard it either way).
class FaultySink final : public ByteSink {
 public:
  FaultySink(std::string& out, std::string name, FaultPlan plan) : out_(out), name_(std::move(name)), plan_(plan) {}

  Status write(std::span<const std::string_view> spans) override {
    ++calls_;
    if (calls_ == plan_.at && plan_.kind != Fault::kShortRead) {
      fired_ = true;
      return injected();
    }
    for (std::string_view span : spans) out_.append(span);
    return Status();
  }
  const std::string& name() const override { return name_; }

  Status injected() const {
    if (plan_.kind == Fault::kBrokenPipe) return Status(ErrorCode::kBrokenPipe, name_ + ": reader went away");
    return Status(ErrorCode::kIoError, name_ + ": write failed: " + std::strerror(plan_.error_number));
  }
  bool fired() const { return fired_; }
  std::size_t calls() const { return calls_; }

 private:
  std::string& out_;
  std::string name_;
  FaultPlan plan_;
  std::size_t calls_ = 0;
  bool fired_ = false;
};

}  // namespace optout::testing
