// Linked into every program and module of an OPTOUT_SANITIZE=thread build (top-level
// CMakeLists.txt), ahead of libtbb. Debian's oneTBB is not built with ThreadSanitizer, so TSan
// cannot see the synchronization inside it: every hand-off between TBB threads (spawning a task,
// waking a worker, joining a pipeline, recycling a task object in TBB's per-thread pool) looks like
// a data race in the code that runs on either side, optout's own included, and no suppression
// narrow enough to spare optout's frames removes them (measured: 183 reports on filter_test).
//
// So under TSan:
//  - TBB runs on one thread per caller (max_allowed_parallelism 1): no TBB worker threads, so
//    what TSan checks is the concurrency the callers create themselves, which is instrumented:
//    threads sharing registries and indexes in the C API, Python threads with the GIL released,
//    Dask's threads. The TBB pipeline's own parallelism is NOT checked by this build; that needs
//    a oneTBB built with -fsanitize=thread.
//  - TBB's small-object pool (task objects) is replaced by malloc/free, which TSan intercepts, so
//    that a task object's memory reused by another caller thread is not reported as a race.
#include <cstddef>
#include <cstdlib>

#include <tbb/global_control.h>

namespace {
const tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
}  // namespace

// The pool's entry points (oneTBB 2021's exported tbb::detail::r1 API, declared in
// tbb/detail/_small_object_pool.h), interposed: this library comes before libtbb in the search
// order. The pool pointer only has to be non-null and is never read.
namespace tbb::detail {
namespace d1 {
class small_object_pool;
struct execution_data;
}  // namespace d1
namespace r1 {
namespace {
d1::small_object_pool* no_pool() {
  static char byte;
  return reinterpret_cast<d1::small_object_pool*>(&byte);
}
}  // namespace

[[gnu::visibility("default")]] void* allocate(d1::small_object_pool*& pool, std::size_t bytes) {
  pool = no_pool();
  return std::malloc(bytes);
}
[[gnu::visibility("default")]] void* allocate(d1::small_object_pool*& pool, std::size_t bytes,
                                              const d1::execution_data&) {
  pool = no_pool();
  return std::malloc(bytes);
}
[[gnu::visibility("default")]] void deallocate(d1::small_object_pool&, void* p, std::size_t) { std::free(p); }
[[gnu::visibility("default")]] void deallocate(d1::small_object_pool&, void* p, std::size_t,
                                               const d1::execution_data&) {
  std::free(p);
}
}  // namespace r1
}  // namespace tbb::detail
