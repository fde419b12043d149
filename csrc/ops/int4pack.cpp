// _convert_weight_to_int4pack: uint8 [n][k / 2] (two int4 values a byte, the even k in the high
// nibble) into int32 [ceil(n / 8)][k / (innerKTiles * 16)][32][innerKTiles / 2], the B-operand
// layout of torch's tinygemm kernel (backends/int4pack.h says which nibble goes where). The
// layout must be torch's bit for bit: _weight_int4pack_mm reads it.
//
// Served on cuda: what torch's cuda kernel accepts (2-d contiguous uint8, innerKTiles 2, 4 or 8,
// k a positive multiple of innerKTiles * 16; n any, rows past n in the last n-tile packed as
// zeros), with the data 16-byte aligned and under 2^31 elements. Everything else runs torch's
// kernel, which raises its errors (RuntimeError; past 2^31 elements its int32 accessors do).
// n = 0 returns the empty result without a launch (torch's kernel launches an empty grid and
// leaves the launch error for the next kernel check to raise).
//
// _dyn_quant_pack_4bit_weight on the cpu: where torch has no KleidiAI (x86 builds), its kernel
// "packs" by concatenation, and _dyn_quant_matmul_4bit reads that layout: the weight bytes, the
// scales and zeros and the bias, each flattened and converted to float32, one after the other.
// Served there by gemforge's copy kernels into one float32 vector; with KleidiAI, torch's.
#include "ops/int4pack.h"

#include "backends/int4pack.h"
#include "ops/empty.h"
#include "ops/on_device.h"
#include "ops/ops.h"
#include "ops/plain.h"
#include "registry/calls.h"

#include <ATen/ATen.h>
#include <ATen/CPUFunctions.h>
#include <ATen/Context.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#endif

#include <cstdint>
#include <limits>

namespace gemforge::ops {

#ifdef GEMFORGE_WITH_CUDA
namespace {

constexpr int64_t kKTile = 16;  // mma k
constexpr int64_t kNTile = 8;   // mma n

// torch's checks, in its order, plus what gemforge's kernel needs: false where any fails.
bool served(const Tensor& self, int64_t inner_k_tiles) {
  if (!self.is_cuda() || !plain(self) || self.dim() != 2 || self.scalar_type() != at::kByte ||
      !self.is_contiguous() || (inner_k_tiles != 2 && inner_k_tiles != 4 && inner_k_tiles != 8))
    return false;
  const int64_t n = self.size(0), k = self.size(1) * 2;
  if (k < inner_k_tiles * kKTile || k % (inner_k_tiles * kKTile) != 0) return false;
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();  // torch's packed_accessor32
  const int64_t out_numel = (n + kNTile - 1) / kNTile * k;
  return self.numel() <= kMax && out_numel <= kMax &&
         reinterpret_cast<uintptr_t>(self.const_data_ptr()) % 16 == 0;
}

}  // namespace
#endif

Tensor convert_weight_to_int4pack(const Tensor& self, int64_t innerKTiles) {
#ifdef GEMFORGE_WITH_CUDA
  if (!served(self, innerKTiles)) {
    reg::note_fallback();
    return at::cuda::_convert_weight_to_int4pack(self, innerKTiles);
  }
  OnDevice on(self);
  const int64_t n = self.size(0), row_bytes = self.size(1);
  Tensor out = empty_on({(n + kNTile - 1) / kNTile, row_bytes * 2 / (innerKTiles * kKTile), 32, innerKTiles / 2},
                        at::kInt, self.device());
  if (out.numel() == 0) return out;
  int4pack::Pack p{};
  p.in = self.const_data_ptr<uint8_t>();
  p.out = out.data_ptr<int32_t>();
  p.n = n;
  p.row_bytes = row_bytes;
  p.inner_k_tiles = int(innerKTiles);
  int4pack::pack_cuda(p);
  return out;
#else
  (void)self, (void)innerKTiles;
  TORCH_CHECK(false, "_convert_weight_to_int4pack: no cuda backend in this build");
#endif
}

Tensor dyn_quant_pack_4bit_weight(const Tensor& weights, const Tensor& scales_zeros, const std::optional<Tensor>& bias,
                                  int64_t block_size, int64_t in_features, int64_t out_features) {
  auto on_cpu = [](const Tensor& t) { return t.is_cpu() && t.layout() == at::kStrided && !t.is_quantized(); };
  const bool served = !at::globalContext().hasKleidiAI() && on_cpu(weights) && on_cpu(scales_zeros) &&
                      (!bias || on_cpu(*bias)) && !scales_zeros.is_complex() && (!bias || !bias->is_complex());
  if (!served) {
    reg::note_fallback();
    return at::cpu::_dyn_quant_pack_4bit_weight(weights, scales_zeros, bias, block_size, in_features, out_features);
  }
  // torch's checks and messages (a block size of 0 is checked here: torch's kernel divides by it)
  TORCH_CHECK(weights.scalar_type() == at::kByte, "_dyn_quant_pack_4bit_weight_cpu : expect weight to be kByte.");
  TORCH_CHECK(block_size == in_features || (block_size != 0 && block_size % 32 == 0 && in_features % block_size == 0),
              "_dyn_quant_pack_4bit_weight_cpu: Group size should be multiple of 32, in_features [", in_features,
              "]. Provided ", block_size);
  std::vector<Tensor> parts{weights, scales_zeros};
  if (bias) parts.push_back(*bias);
  int64_t total = 0;
  for (const Tensor& t : parts) total += t.numel();
  Tensor packed = empty_on({total}, at::kFloat, weights.device());
  int64_t offset = 0;
  for (const Tensor& t : parts) {
    Tensor slot = packed.narrow(0, offset, t.numel()).view(t.sizes());
    ops::copy_(slot, t, false);
    offset += t.numel();
  }
  return packed;
}

}  // namespace gemforge::ops
