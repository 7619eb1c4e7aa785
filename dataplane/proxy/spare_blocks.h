#pragma once
// Per-thread free lists for the objects the proxy makes and frees once per
// request (the Exchange, the HTTP/2 stream state): with tens of requests in
// flight per worker, glibc's thread cache (7 chunks per size) runs dry, and
// every malloc/free of these went through _int_malloc/_int_free, a few
// hundred instructions each (callgrind). Internal to proxy/.
//
// Blocks never cross threads by design (a worker's objects live and die on
// its event loop); one that does is simply kept by the thread that frees it.
#include <cstddef>
#include <new>
#include <vector>

namespace sluice::proxy {

// For a class T: `static void* operator new(size_t n) { return SpareBlocks<T>::Take(n); }`
// and `static void operator delete(void* p, size_t n) { SpareBlocks<T>::Give(p, n); }`.
// Only blocks of exactly sizeof(T) are kept (a subclass falls through to
// the global allocator), at most kMaxSpare per thread.
template <typename T, size_t kMaxSpare = 256>
class SpareBlocks {
 public:
  static void* Take(size_t size) {
    std::vector<void*>* spares = List();
    if (size == sizeof(T) && spares != nullptr && !spares->empty()) {
      void* block = spares->back();
      spares->pop_back();
      return block;
    }
    return ::operator new(size);
  }

  static void Give(void* block, size_t size) noexcept {
    std::vector<void*>* spares = List();
    if (size == sizeof(T) && spares != nullptr && spares->size() < spares->capacity()) {
      spares->push_back(block);  // within the reserved capacity: cannot allocate or throw
      return;
    }
    ::operator delete(block);
  }

 private:
  struct Spares {
    std::vector<void*> blocks;
    Spares() { blocks.reserve(kMaxSpare); }
    ~Spares() {
      for (void* block : blocks) ::operator delete(block);
      blocks.clear();
      gone = true;
    }
  };
  // Null once the thread's list was destroyed (objects freed during thread
  // exit go straight to the global allocator).
  static std::vector<void*>* List() {
    if (gone) return nullptr;
    thread_local Spares spares;
    return &spares.blocks;
  }
  static inline thread_local bool gone = false;
};

}  // namespace sluice::proxy
