// The WebSocket hello from untrusted text: what is a hello, and what is refused.
#include "ws_hello.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

std::string refusal(std::string_view text) {
  const auto r = parse_hello(text);
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

TEST(WsHello, TokenAndOptionalSince) {
  auto r = parse_hello(R"({"type":"hello","token":"abc"})");
  ASSERT_TRUE(std::holds_alternative<Hello>(r));
  EXPECT_EQ(std::get<Hello>(r).token, "abc");
  EXPECT_FALSE(std::get<Hello>(r).since);
  r = parse_hello(R"({"type":"hello","token":"abc","since":17,"extra":[1]})");
  ASSERT_TRUE(std::holds_alternative<Hello>(r));
  EXPECT_EQ(std::get<Hello>(r).since, 17);
  r = parse_hello(R"({"type":"hello","token":"abc","since":null})");
  ASSERT_TRUE(std::holds_alternative<Hello>(r));
  EXPECT_FALSE(std::get<Hello>(r).since);
}

TEST(WsHello, AnythingElseIsRefusedWithoutThrowing) {
  EXPECT_EQ(refusal("not json"), "first message is not a hello");
  EXPECT_EQ(refusal("[]"), "first message is not a hello");
  EXPECT_EQ(refusal(R"({"type":1,"token":"a"})"), "first message is not a hello");
  EXPECT_EQ(refusal(R"({"type":"hi","token":"a"})"), "first message is not a hello");
  EXPECT_EQ(refusal(R"({"type":"hello"})"), "no token");
  EXPECT_EQ(refusal(R"({"type":"hello","token":5})"), "no token");
  for (const char* since : {"-1", "1.5", "\"3\"", "true", "18446744073709551615"}) {
    EXPECT_EQ(refusal(std::string(R"({"type":"hello","token":"a","since":)") + since + "}"),
              "since must be a whole number >= 0")
        << since;
  }
}

}  // namespace
}  // namespace tb
