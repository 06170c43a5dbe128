#include "storage/id_generator.h"

#include <gtest/gtest.h>

#include <regex>

#include "tests/testing/fake_clock.h"

namespace hookvault::storage {
namespace {

TEST(IdGeneratorTest, IdsAreUuidV7AndStrictlyIncreasingWithinOneMillisecond) {
  testing::FakeClock clock;
  IdGenerator ids(clock);
  static const std::regex kUuidV7(
      "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::string last;
  for (int i = 0; i < 10000; ++i) {  // far more than the 12-bit counter holds
    std::string id = ids.Next();
    ASSERT_TRUE(std::regex_match(id, kUuidV7)) << id;
    ASSERT_GT(id, last) << "at " << i;
    last = id;
  }
}

TEST(IdGeneratorTest, IdsKeepIncreasingWhenTheClockStepsBack) {
  testing::FakeClock clock;
  IdGenerator ids(clock);
  std::string before = ids.Next();
  clock.Advance(-5'000'000);
  EXPECT_GT(ids.Next(), before);
}

TEST(IdGeneratorTest, TimestampIsTheClocksMilliseconds) {
  testing::FakeClock clock(0x0192f6c17a2bLL * 1000);
  IdGenerator ids(clock);
  std::string id = ids.Next();
  EXPECT_EQ(id.substr(0, 13), "0192f6c1-7a2b");
}

// Every one of the 256 seed bits reaches the generator: seeds that differ in any one word give
// different ids (a 32-bit seed, as std::random_device{}() gave, ignored all but the first).
TEST(IdGeneratorTest, EveryWordOfTheSeedCounts) {
  testing::FakeClock clock;
  SeedWords base{};
  IdGenerator reference(clock, base);
  std::string reference_id = reference.Next();
  for (size_t word = 0; word < kSeedWords; ++word) {
    SeedWords other = base;
    other[word] = 1;
    IdGenerator ids(clock, other);
    EXPECT_NE(ids.Next(), reference_id) << "seed word " << word << " is ignored";
  }
}

// Two generators made at the same instant (one clock reading) still give different ids.
TEST(IdGeneratorTest, GeneratorsMadeAtTheSameInstantDiffer) {
  testing::FakeClock clock;
  IdGenerator a(clock);
  IdGenerator b(clock);
  EXPECT_NE(a.Next(), b.Next());
  SeedWords s1 = RandomSeed();
  SeedWords s2 = RandomSeed();
  EXPECT_NE(s1, s2);
  EXPECT_NE(s1, SeedWords{});
  EXPECT_GE(sizeof(SeedWords) * 8, 128u);
}

}  // namespace
}  // namespace hookvault::storage
