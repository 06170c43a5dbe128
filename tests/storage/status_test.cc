#include "storage/status.h"

#include <gtest/gtest.h>

#include <string>

namespace hookvault::storage {
namespace {

StatusOr<std::string> Buggy() { return Status::Ok(); }  // no value: a bug of the caller

// In every build (the tests run Release, where assert is off): an error, not a missing value.
TEST(StatusOrTest, AnOkStatusWithoutAValueBecomesInternal) {
  StatusOr<std::string> r = Buggy();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_EQ(r.status().message(), kOkWithoutValue);
}

TEST(StatusOrTest, ValuesAndErrorsAsBefore) {
  StatusOr<std::string> v = std::string("x");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "x");
  StatusOr<std::string> e = Status::NotFound("nope");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(e.status().message(), "nope");
}

}  // namespace
}  // namespace hookvault::storage
