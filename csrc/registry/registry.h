// The registration table's row type, the call counters, and the enable/disable machinery.
#pragma once

#include "registry/calls.h"

#include <torch/library.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

namespace gemforge::reg {

enum Backend : unsigned { kCpu = 1, kCuda = 2 };
constexpr unsigned kBoth = kCpu | kCuda;

// One row: an aten overload, its family, the backends that serve it, and how to make the
// kernel for torch::Library (the same entry point serves every backend: it launches on the
// device of its tensors).
//
// A row with `via` set is an alias: an overload torch defines as a composite
// (CompositeImplicitAutograd: absolute, multiply, special_erf, ...). It is never registered:
// overriding it would cut it off from its autograd formula. torch decomposes it into `via`,
// which gemforge serves.
struct OpRow {
  const char* overload;
  const char* family;
  unsigned backends;
  torch::CppFunction (*make)();
  std::atomic<int64_t>* calls;
  std::atomic<int64_t>* fallbacks;
  const char* via = nullptr;
};

const std::vector<OpRow>& op_table();  // op_table.cpp

// ---- call statistics: nothing but a flag test unless recording ---------------------------------
// Each entry point counts its calls, and the ones it handed to torch (ops call note_fallback()).
template <auto Fn, class Sig = decltype(Fn)> struct counted;
template <auto Fn, class R, class... A> struct counted<Fn, R (*)(A...)> {
  static inline std::atomic<int64_t> calls{0}, fallbacks{0};
  static R call(A... args) {
    if (!g_recording.load(std::memory_order_relaxed)) return Fn(std::forward<A>(args)...);
    calls.fetch_add(1, std::memory_order_relaxed);
    struct Scope {  // calls nest (where -> copy_): restore the outer overload's counter
      std::atomic<int64_t>* outer = std::exchange(tl_fallbacks, &fallbacks);
      ~Scope() { tl_fallbacks = outer; }
    } scope;
    return Fn(std::forward<A>(args)...);
  }
};
template <auto Fn> torch::CppFunction make_kernel() {
  return torch::CppFunction::makeFromUnboxedFunction(TORCH_FN(counted<Fn>::call));
}

// ---- what is installed --------------------------------------------------------------------------
using Active = std::vector<std::pair<std::string, std::string>>;  // (overload, backend)

Active select(const std::vector<std::string>* include, const std::vector<std::string>* exclude,
              const std::vector<std::string>* backends);
void set_active(const Active& rows);
Active active();
bool any_active();  // !active().empty(), without copying the rows
std::vector<std::string> available_backends();
const char* backend_name(Backend b);

}  // namespace gemforge::reg

#define GF_OP(overload, family, fn, backends) \
  { overload, family, backends, &::gemforge::reg::make_kernel<&fn>, \
    &::gemforge::reg::counted<&fn>::calls, &::gemforge::reg::counted<&fn>::fallbacks, nullptr }
// An alias row: `overload` is torch's composite of the served overload `via`.
#define GF_VIA(overload, family, via) { overload, family, 0, nullptr, nullptr, nullptr, via }
