// gemforge from C++: enable it, run unchanged ATen code, see which calls it served.
#include <gemforge/gemforge.h>

#include <ATen/ATen.h>

#include <iostream>

int main() {
  const auto device = gemforge::available_backends().size() > 1 ? at::kCUDA : at::kCPU;
  auto a = at::randn({256, 256}, at::device(device));
  auto b = at::randn({256, 256}, at::device(device));
  const auto expected = at::relu(a * b + a);  // torch's own kernels

  gemforge::record_stats(true);
  gemforge::enable();
  const auto got = at::relu(a * b + a);  // now gemforge's
  gemforge::disable();

  for (const auto& [overload, calls] : gemforge::stats()) std::cout << overload << ": " << calls << "\n";
  const bool same = at::allclose(got, expected);
  std::cout << (same ? "matches torch" : "DIFFERS from torch") << "\n";
  return same && !gemforge::stats().empty() ? 0 : 1;
}
