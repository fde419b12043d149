// The C++ API: enable()/disable() through the dispatcher on the cpu backend, name checks and
// call statistics.
#include "gemforge/gemforge.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <stdexcept>

namespace {

int64_t served(const std::string& overload) {
  for (const auto& [name, n] : gemforge::stats())
    if (name == overload) return n;
  return 0;
}

TEST(Registry, EnableServesAndDisableRestores) {
  auto a = at::randn({4, 8});
  auto b = at::randn({4, 8});
  const auto expected = at::add(a, b);
  gemforge::reset_stats();
  gemforge::record_stats(true);

  gemforge::enable(std::vector<std::string>{"add"}, std::nullopt, std::vector<std::string>{"cpu"});
  EXPECT_TRUE(gemforge::is_enabled());
  EXPECT_TRUE(at::allclose(at::add(a, b), expected));
  EXPECT_EQ(served("add.Tensor"), 1);

  gemforge::disable();
  EXPECT_FALSE(gemforge::is_enabled());
  EXPECT_TRUE(at::allclose(at::add(a, b), expected));
  EXPECT_EQ(served("add.Tensor"), 1);  // torch's kernel served the second call
  gemforge::record_stats(false);
}

TEST(Registry, UnknownNamesAreErrors) {
  EXPECT_THROW(gemforge::enable(std::vector<std::string>{"no_such_op"}), std::invalid_argument);
  EXPECT_THROW(gemforge::enable(std::nullopt, std::nullopt, std::vector<std::string>{"tpu"}),
               std::invalid_argument);
  EXPECT_FALSE(gemforge::is_enabled());
}

TEST(Registry, TableRowsAreWellFormed) {
  const auto rows = gemforge::registered_ops();
  EXPECT_GT(rows.size(), 100u);
  for (const auto& row : rows) {
    EXPECT_FALSE(row.overload.empty());
    EXPECT_FALSE(row.family.empty());
    EXPECT_FALSE(row.backends.empty());
  }
}

}  // namespace
