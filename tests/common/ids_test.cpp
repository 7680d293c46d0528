// Ids, labels and MQTT text: what may become a topic level or a field of a ticket.
#include "ids.hpp"

#include <gtest/gtest.h>

namespace tb {
namespace {

TEST(Ids, Ids) {
  for (const std::string ok : {"42", "TB7QK2M9XW4R", "gate-n-1", "ünïcödé", "a$b", "🎫"}) {
    EXPECT_TRUE(is_valid_id(ok)) << ok;
  }
  for (const std::string& bad : std::vector<std::string>{
           "", "a/b", "a+b", "a#b", "a b", "a\tb", std::string("a\0b", 3), "a\x7f", "\xc2\x80",
           "g\xc2\x85", "\xc2\xa0", "\xe2\x80\x83", "\xef\xb7\x90", "\xef\xbf\xbe",
           "\xf0\x9f\xbf\xbf", "\xff", std::string(129, 'x')}) {
    EXPECT_FALSE(is_valid_id(bad)) << bad;
  }
  EXPECT_TRUE(is_valid_id(std::string(128, 'x')));
}

TEST(Ids, MqttText) {
  EXPECT_TRUE(is_mqtt_text(""));
  EXPECT_TRUE(is_mqtt_text("A. Example, north gate / row 3"));
  EXPECT_TRUE(is_mqtt_text("\xe2\x82\xac \xf0\x9f\x8e\xab"));  // € 🎫
  EXPECT_FALSE(is_mqtt_text("\x1f"));
  EXPECT_FALSE(is_mqtt_text("\xc2\x9f"));      // C1
  EXPECT_FALSE(is_mqtt_text("\xef\xb7\xaf"));  // U+FDEF
  EXPECT_FALSE(is_mqtt_text("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(is_mqtt_text("\xc0\xaf"));      // overlong
}

TEST(Ids, Labels) {
  EXPECT_TRUE(is_valid_label("North gate", 128));
  EXPECT_TRUE(is_valid_label("ééé", 3));
  EXPECT_FALSE(is_valid_label("éééé", 3));
  EXPECT_FALSE(is_valid_label("", 3));
  EXPECT_FALSE(is_valid_label("a\nb", 3));
  EXPECT_FALSE(is_valid_label("a\xc2\x85", 3));
}

}  // namespace
}  // namespace tb
