#include "dataplane/http2/session_memory.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace sluice::http2 {
namespace {

// Every block starts with a 16-byte header holding its size class, so
// free() (which nghttp2 calls without a size) knows where it belongs, and
// the payload keeps malloc's 16-byte alignment.
constexpr size_t kHeader = 16;
constexpr size_t kClassPayload[] = {64, 128, 256, 512, 1024, 2048};
constexpr size_t kClasses = sizeof kClassPayload / sizeof kClassPayload[0];
constexpr uint32_t kUnpooled = 0xffffffff;  // bigger than the largest class: plain malloc
// Spare blocks kept per class and thread: enough for a few hundred streams
// in flight, at most ~1.5 MiB per thread when every list is full.
constexpr size_t kMaxSparePerClass = 256;

struct FreeBlock {
  FreeBlock* next;
};

struct FreeLists {
  FreeBlock* head[kClasses] = {};
  size_t count[kClasses] = {};
  ~FreeLists() {
    for (size_t c = 0; c < kClasses; ++c) {
      while (head[c] != nullptr) {
        FreeBlock* block = head[c];
        head[c] = block->next;
        std::free(reinterpret_cast<char*>(block) - kHeader);
      }
      count[c] = 0;
    }
    gone = true;
  }
  static inline thread_local bool gone = false;  // after thread exit began: plain malloc/free
};
thread_local FreeLists free_lists;

uint32_t ClassFor(size_t size) {
  for (uint32_t c = 0; c < kClasses; ++c) {
    if (size <= kClassPayload[c]) return c;
  }
  return kUnpooled;
}

uint32_t& ClassOf(void* payload) { return *reinterpret_cast<uint32_t*>(static_cast<char*>(payload) - kHeader); }

void* Allocate(size_t size, void*) {
  const uint32_t c = ClassFor(size);
  if (c != kUnpooled && !FreeLists::gone && free_lists.head[c] != nullptr) {
    FreeBlock* block = free_lists.head[c];
    free_lists.head[c] = block->next;
    --free_lists.count[c];
    return block;  // its header still names class c
  }
  char* raw = static_cast<char*>(std::malloc(kHeader + (c != kUnpooled ? kClassPayload[c] : size)));
  if (raw == nullptr) return nullptr;
  *reinterpret_cast<uint32_t*>(raw) = c;
  return raw + kHeader;
}

void Free(void* payload, void*) {
  if (payload == nullptr) return;
  const uint32_t c = ClassOf(payload);
  if (c != kUnpooled && !FreeLists::gone && free_lists.count[c] < kMaxSparePerClass) {
    auto* block = static_cast<FreeBlock*>(payload);
    block->next = free_lists.head[c];
    free_lists.head[c] = block;
    ++free_lists.count[c];
    return;
  }
  std::free(static_cast<char*>(payload) - kHeader);
}

void* AllocateZeroed(size_t count, size_t size, void* user) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  void* payload = Allocate(count * size, user);
  if (payload != nullptr) std::memset(payload, 0, count * size);
  return payload;
}

void* Reallocate(void* payload, size_t size, void* user) {
  if (payload == nullptr) return Allocate(size, user);
  if (size == 0) {
    Free(payload, user);
    return nullptr;
  }
  const uint32_t c = ClassOf(payload);
  if (c != kUnpooled) {
    if (size <= kClassPayload[c]) return payload;  // still fits its block
    void* bigger = Allocate(size, user);
    if (bigger == nullptr) return nullptr;
    std::memcpy(bigger, payload, kClassPayload[c]);
    Free(payload, user);
    return bigger;
  }
  if (ClassFor(size) != kUnpooled) {
    // Shrinking from an unpooled block: the old size is unknown, but it was
    // larger than every class, so the new size's worth of bytes is there.
    void* smaller = Allocate(size, user);
    if (smaller == nullptr) return nullptr;
    std::memcpy(smaller, payload, size);
    Free(payload, user);
    return smaller;
  }
  char* raw = static_cast<char*>(std::realloc(static_cast<char*>(payload) - kHeader, kHeader + size));
  return raw == nullptr ? nullptr : raw + kHeader;
}

nghttp2_mem session_memory = {nullptr, &Allocate, &Free, &AllocateZeroed, &Reallocate};

}  // namespace

nghttp2_mem* SessionMemory() { return &session_memory; }

}  // namespace sluice::http2
