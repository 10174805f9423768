// CRoaring's container internals, in one place (roaring_frozen.hpp says why).
#include "roaring_frozen.hpp"

#include <roaring/containers/containers.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include "optout/nhs_number.hpp"
#include "roaring_build.hpp"
#include "tuning.hpp"

namespace optout::detail {
namespace {

template <typename T>
T load(const char* p) noexcept {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

constexpr std::size_t kWordsPerContainer = BITSET_CONTAINER_SIZE_IN_WORDS;  // 65536 bits

// Where the parts of a portable Roaring serialization are (see CRoaring's ra_portable_serialize).
struct PortableHeader {
  bool has_run = false;
  std::uint32_t size = 0;  // containers
  std::size_t keycards = 0;
  bool has_offsets = false;
  std::size_t offsets = 0;
  std::size_t header_bytes = 0;
};

// Read before CRoaring sees the bytes: CRoaring 0.2.66 takes a negative container count from the
// no-run cookie at face value (and would try a huge allocation) and prints to stderr on failure.
const char* parse_portable_header(std::string_view b, PortableHeader& h) noexcept {
  if (b.size() < 4) return "bitmap: truncated";
  const auto cookie = load<std::uint32_t>(b.data());
  std::size_t pos = 4;
  if ((cookie & 0xFFFF) == SERIAL_COOKIE) {
    h.has_run = true;
    h.size = (cookie >> 16) + 1;
    pos += (h.size + 7) / 8;
  } else if (cookie == SERIAL_COOKIE_NO_RUNCONTAINER) {
    if (b.size() < 8) return "bitmap: truncated";
    h.size = load<std::uint32_t>(b.data() + 4);
    if (h.size > MAX_CONTAINERS) return "bitmap: impossible container count";
    pos = 8;
  } else {
    return "bitmap: not a portable Roaring bitmap (unknown cookie)";
  }
  h.keycards = pos;
  pos += std::size_t{4} * h.size;
  h.has_offsets = !h.has_run || h.size >= NO_OFFSET_THRESHOLD;
  if (h.has_offsets) {
    h.offsets = pos;
    pos += std::size_t{4} * h.size;
  }
  h.header_bytes = pos;
  if (pos > b.size()) return "bitmap: truncated";
  return nullptr;
}

// The structural checks of one container; nullptr when it is sound.
const char* check_container(const roaring_array_t& ra, std::int32_t k, std::uint32_t header_cardinality) noexcept {
  if (k > 0 && ra.keys[k - 1] >= ra.keys[k]) return "keys not increasing";
  const void* c = ra.containers[k];
  if (c == nullptr) return "missing";
  switch (ra.typecodes[k]) {
    case ARRAY_CONTAINER_TYPE_CODE: {
      const auto* a = static_cast<const array_container_t*>(c);
      if (a->cardinality < 1 || a->cardinality > DEFAULT_MAX_SIZE) {
        return "array container with a number of values outside 1..4096";
      }
      for (std::int32_t i = 1; i < a->cardinality; ++i) {
        if (a->array[i - 1] >= a->array[i]) return "array container values not strictly increasing";
      }
      if (std::uint32_t(a->cardinality) != header_cardinality) {
        return "array container cardinality disagrees with the header";
      }
      return nullptr;
    }
    case BITSET_CONTAINER_TYPE_CODE: {
      const auto* b = static_cast<const bitset_container_t*>(c);
      const std::uint32_t bits = popcount_page(b->array);
      if (std::int64_t{bits} != b->cardinality || bits != header_cardinality) {
        return "bitset container cardinality disagrees with its bits";
      }
      if (bits <= DEFAULT_MAX_SIZE) return "bitset container with 4096 values or fewer";
      return nullptr;
    }
    case RUN_CONTAINER_TYPE_CODE: {
      const auto* r = static_cast<const run_container_t*>(c);
      if (r->n_runs < 1) return "run container without runs";
      std::uint32_t count = 0;
      std::uint32_t previous_end = 0;
      for (std::int32_t i = 0; i < r->n_runs; ++i) {
        const std::uint32_t start = r->runs[i].value;
        const std::uint32_t end = start + r->runs[i].length;
        if (end > 0xFFFF) return "run goes past the end of the container";
        if (i > 0 && start <= previous_end + 1) return "runs overlap, touch or are out of order";
        previous_end = end;
        count += r->runs[i].length + 1;
      }
      if (count != header_cardinality) return "run container cardinality disagrees with the header";
      return nullptr;
    }
    default: return "unexpected container type";
  }
}

std::uint64_t container_bytes(const roaring_array_t& ra, std::int32_t k) noexcept {
  switch (ra.typecodes[k]) {
    case ARRAY_CONTAINER_TYPE_CODE:
      return 2 * std::uint64_t(static_cast<const array_container_t*>(ra.containers[k])->cardinality);
    case BITSET_CONTAINER_TYPE_CODE: return BITSET_CONTAINER_SIZE_IN_WORDS * sizeof(std::uint64_t);
    case RUN_CONTAINER_TYPE_CODE:
      return 2 + 4 * std::uint64_t(static_cast<const run_container_t*>(ra.containers[k])->n_runs);
    default: return 0;
  }
}

// Deserializes portable bytes whose bounds CRoaring's size scan has accepted into ONE block: the
// bitmap struct, its arrays, the container structs and their payloads, with bitset payloads
// 64-byte aligned. The bitmap is flagged ROARING_FLAG_FROZEN, so roaring_bitmap_free() frees just
// that block (CRoaring's own frozen-view convention), and it must never be modified.
//
// Why not roaring_bitmap_portable_deserialize_safe(): it makes one malloc per container and copies
// on one thread; a 50 M-number list is 4 600 bitset containers, 9 200 fresh 4 KiB pages, which on
// this VM took 200–320 ms of page faults alone. One huge-page block copied in parallel brought the
// whole load (read, checksum, copy, validation) to 31–37 ms in a fresh process. The bounds checks
// are CRoaring's (portable_deserialize_size) and ours; the structure is checked afterwards.
RoaringPtr read_frozen(std::string_view bytes, const PortableHeader& header) {
  struct Plan {
    std::uint8_t type;
    std::uint32_t count;  // values (array, bitset) or runs (run)
    std::size_t from;     // payload offset in bytes
    std::size_t to;       // payload offset in the block
  };
  const std::uint32_t n = header.size;
  const char* const src = bytes.data();
  std::vector<Plan> plan(n);
  std::size_t pos = header.header_bytes;
  std::size_t bitsets = 0;
  std::size_t runs = 0;
  std::size_t values = 0;
  for (std::uint32_t k = 0; k < n; ++k) {
    const std::uint32_t cardinality =
        std::uint32_t{load<std::uint16_t>(src + header.keycards + 4 * std::size_t{k} + 2)} + 1;
    const bool is_run = header.has_run && ((static_cast<unsigned char>(src[4 + k / 8]) >> (k % 8)) & 1) != 0;
    Plan& p = plan[k];
    std::size_t length;
    if (is_run) {
      if (pos + 2 > bytes.size()) return nullptr;
      p = {RUN_CONTAINER_TYPE_CODE, load<std::uint16_t>(src + pos), pos + 2, 0};
      length = 2 + 4 * std::size_t{p.count};
      runs += p.count;
    } else if (cardinality > DEFAULT_MAX_SIZE) {
      p = {BITSET_CONTAINER_TYPE_CODE, cardinality, pos, 0};
      length = BITSET_CONTAINER_SIZE_IN_WORDS * sizeof(std::uint64_t);
      ++bitsets;
    } else {
      p = {ARRAY_CONTAINER_TYPE_CODE, cardinality, pos, 0};
      length = 2 * std::size_t{cardinality};
      values += cardinality;
    }
    if (length > bytes.size() - pos) return nullptr;  // cannot happen after the size scan
    pos += length;
  }
  constexpr std::size_t kStructBytes =
      std::max({sizeof(bitset_container_t), sizeof(array_container_t), sizeof(run_container_t)});
  constexpr std::size_t kPageBytes = BITSET_CONTAINER_SIZE_IN_WORDS * sizeof(std::uint64_t);
  const std::size_t meta = sizeof(roaring_bitmap_t) + n * (sizeof(void*) + kStructBytes + sizeof(std::uint16_t) + 1);
  const std::size_t total = meta + 64 + bitsets * kPageBytes + runs * sizeof(rle16_t) + values * sizeof(std::uint16_t);
  char* const block = allocate_large(total);
  if (block == nullptr) throw std::bad_alloc();
  RoaringPtr result(reinterpret_cast<roaring_bitmap_t*>(block));
  roaring_array_t& ra = result->high_low_container;
  ra.size = static_cast<std::int32_t>(n);
  ra.allocation_size = static_cast<std::int32_t>(n);
  ra.flags = ROARING_FLAG_FROZEN;
  char* at = block + sizeof(roaring_bitmap_t);
  ra.containers = reinterpret_cast<void**>(at);
  at += n * sizeof(void*);
  char* const structs = at;
  at += n * kStructBytes;
  ra.keys = reinterpret_cast<std::uint16_t*>(at);
  at += n * sizeof(std::uint16_t);
  ra.typecodes = reinterpret_cast<std::uint8_t*>(at);
  at += n;
  const auto misalignment = reinterpret_cast<std::uintptr_t>(at) % 64;
  char* const zone = at + (misalignment == 0 ? 0 : 64 - misalignment);
  std::size_t bitset_at = 0;
  std::size_t run_at = bitsets * kPageBytes;
  std::size_t array_at = run_at + runs * sizeof(rle16_t);
  for (std::uint32_t k = 0; k < n; ++k) {
    Plan& p = plan[k];
    ra.keys[k] = load<std::uint16_t>(src + header.keycards + 4 * std::size_t{k});
    ra.typecodes[k] = p.type;
    char* const s = structs + k * kStructBytes;
    ra.containers[k] = s;
    switch (p.type) {
      case BITSET_CONTAINER_TYPE_CODE: {
        p.to = bitset_at;
        bitset_at += kPageBytes;
        auto* c = new (s) bitset_container_t;
        c->cardinality = static_cast<std::int32_t>(p.count);
        c->array = reinterpret_cast<std::uint64_t*>(zone + p.to);
        break;
      }
      case RUN_CONTAINER_TYPE_CODE: {
        p.to = run_at;
        run_at += p.count * sizeof(rle16_t);
        auto* c = new (s) run_container_t;
        c->n_runs = c->capacity = static_cast<std::int32_t>(p.count);
        c->runs = reinterpret_cast<rle16_t*>(zone + p.to);
        break;
      }
      default: {
        p.to = array_at;
        array_at += p.count * sizeof(std::uint16_t);
        auto* c = new (s) array_container_t;
        c->cardinality = c->capacity = static_cast<std::int32_t>(p.count);
        c->array = reinterpret_cast<std::uint16_t*>(zone + p.to);
        break;
      }
    }
  }
  tbb::parallel_for(
      tbb::blocked_range<std::uint32_t>(0, n, kValidateGrain), [&](const tbb::blocked_range<std::uint32_t>& range) {
        for (std::uint32_t k = range.begin(); k != range.end(); ++k) {
          const Plan& p = plan[k];
          const std::size_t length = p.type == BITSET_CONTAINER_TYPE_CODE ? kPageBytes
                                     : p.type == RUN_CONTAINER_TYPE_CODE  ? p.count * sizeof(rle16_t)
                                                                          : p.count * sizeof(std::uint16_t);
          std::memcpy(zone + p.to, src + p.from, length);
        }
      });
  return result;
}

}  // namespace

std::string read_bitmap(std::string_view bytes, std::uint64_t cardinality, RoaringPtr& out) {
  PortableHeader header;
  if (const char* problem = parse_portable_header(bytes, header)) return problem;
  const std::size_t used = roaring_bitmap_portable_deserialize_size(bytes.data(), bytes.size());
  if (used == 0) return "bitmap: truncated or malformed";
  if (used != bytes.size()) return "bitmap: bytes left over after its end";
  out = read_frozen(bytes, header);
  if (!out) return "bitmap: truncated or malformed";
  const roaring_bitmap_t* bitmap = out.get();
  if (std::string problem = validate_bitmap(bitmap, bytes); !problem.empty()) return problem;
  if (roaring_bitmap_get_cardinality(bitmap) != cardinality) {
    return "stored count does not match the bitmap";
  }
  if (cardinality > 0 && roaring_bitmap_maximum(bitmap) >= kStemLimit) {
    return "bitmap holds a value of 10^9 or more, which is not a stem";
  }
  return {};
}

std::string validate_bitmap(const roaring_bitmap_t* bitmap, std::string_view bytes) {
  PortableHeader header;
  if (const char* problem = parse_portable_header(bytes, header)) return problem;
  const roaring_array_t& ra = bitmap->high_low_container;
  if (ra.size < 0 || std::uint32_t(ra.size) != header.size) {
    return "bitmap: container count disagrees with the header";
  }
  const char* keycards = bytes.data() + header.keycards;
  const auto header_cardinality = [&](std::int32_t k) {
    return std::uint32_t{load<std::uint16_t>(keycards + 4 * std::size_t(k) + 2)} + 1;
  };
  // Containers are checked in parallel; the lowest failing index is reported, so the message
  // does not depend on scheduling.
  constexpr std::int32_t kNone = std::numeric_limits<std::int32_t>::max();
  std::atomic<std::int32_t> first_bad{kNone};
  tbb::parallel_for(tbb::blocked_range<std::int32_t>(0, ra.size, kValidateGrain),
                    [&](const tbb::blocked_range<std::int32_t>& range) {
                      for (std::int32_t k = range.begin(); k != range.end(); ++k) {
                        if (k >= first_bad.load(std::memory_order_relaxed)) return;
                        if (check_container(ra, k, header_cardinality(k)) != nullptr) {
                          std::int32_t seen = first_bad.load(std::memory_order_relaxed);
                          while (k < seen && !first_bad.compare_exchange_weak(seen, k, std::memory_order_relaxed)) {
                          }
                          return;
                        }
                      }
                    });
  if (const std::int32_t k = first_bad.load(); k != kNone) {
    return "bitmap container " + std::to_string(k) + ": " + check_container(ra, k, header_cardinality(k));
  }
  // CRoaring skips the offsets; readers in other languages use them, so they must be right too.
  if (header.has_offsets) {
    std::uint64_t expected = header.header_bytes;
    for (std::int32_t k = 0; k < ra.size; ++k) {
      if (load<std::uint32_t>(bytes.data() + header.offsets + 4 * std::size_t(k)) != expected) {
        return "bitmap container " + std::to_string(k) + ": wrong offset";
      }
      expected += container_bytes(ra, k);
    }
  }
  return {};
}

void expand_into(const roaring_bitmap_t* bitmap, std::uint64_t* bits) {
  const roaring_array_t& ra = bitmap->high_low_container;
  tbb::parallel_for(tbb::blocked_range<std::int32_t>(0, ra.size, kContainersPerExpandTask),
                    [&](const tbb::blocked_range<std::int32_t>& range) {
                      for (std::int32_t i = range.begin(); i != range.end(); ++i) {
                        std::uint8_t type = ra.typecodes[i];
                        const void* container = container_unwrap_shared(ra.containers[i], &type);
                        std::uint64_t* words = bits + std::size_t{ra.keys[i]} * kWordsPerContainer;
                        switch (type) {
                          case BITSET_CONTAINER_TYPE_CODE: {
                            const auto* c = static_cast<const bitset_container_t*>(container);
                            std::memcpy(words, c->array, kWordsPerContainer * sizeof(std::uint64_t));
                            break;
                          }
                          case ARRAY_CONTAINER_TYPE_CODE: {
                            const auto* c = static_cast<const array_container_t*>(container);
                            for (std::int32_t k = 0; k < c->cardinality; ++k) {
                              words[c->array[k] >> 6] |= std::uint64_t{1} << (c->array[k] & 63);
                            }
                            break;
                          }
                          case RUN_CONTAINER_TYPE_CODE: {
                            const auto* c = static_cast<const run_container_t*>(container);
                            for (std::int32_t k = 0; k < c->n_runs; ++k) {
                              const std::uint32_t first = c->runs[k].value;
                              const std::uint32_t last = first + c->runs[k].length;
                              for (std::uint32_t v = first; v <= last; ++v) {
                                words[v >> 6] |= std::uint64_t{1} << (v & 63);
                              }
                            }
                            break;
                          }
                          default: break;
                        }
                      }
                    });
}

std::uint64_t bitmap_memory_bytes(const roaring_bitmap_t* bitmap) noexcept {
  const roaring_array_t& ra = bitmap->high_low_container;
  std::uint64_t bytes = sizeof(roaring_bitmap_t) + std::uint64_t(ra.allocation_size) *
                                                       (sizeof(std::uint16_t) + sizeof(void*) + sizeof(std::uint8_t));
  for (std::int32_t i = 0; i < ra.size; ++i) {
    std::uint8_t type = ra.typecodes[i];
    const void* c = ra.containers[i];
    if (type == SHARED_CONTAINER_TYPE_CODE) {
      bytes += sizeof(shared_container_t);
      c = container_unwrap_shared(c, &type);
    }
    switch (type) {
      case BITSET_CONTAINER_TYPE_CODE:
        bytes += sizeof(bitset_container_t) + kWordsPerContainer * sizeof(std::uint64_t);
        break;
      case ARRAY_CONTAINER_TYPE_CODE:
        bytes += sizeof(array_container_t) +
                 std::uint64_t(static_cast<const array_container_t*>(c)->capacity) * sizeof(std::uint16_t);
        break;
      case RUN_CONTAINER_TYPE_CODE:
        bytes +=
            sizeof(run_container_t) + std::uint64_t(static_cast<const run_container_t*>(c)->capacity) * sizeof(rle16_t);
        break;
      default: break;
    }
  }
  return bytes;
}

}  // namespace optout::detail
