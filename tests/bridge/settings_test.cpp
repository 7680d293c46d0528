// Settings from four layers (command line, environment, config file, default) and durations.
#include "settings.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "process.hpp"

namespace tb {
namespace {

struct Parsed {
  CLI::App app{"test"};
  Settings settings{app};
  explicit Parsed(std::vector<std::string> args) {
    settings.add("listen", "where", "127.0.0.1:8080");
    settings.add("mqtt", "broker", "mqtt://127.0.0.1:1883");
    settings.add("retention-age", "age", "7d");
    std::vector<const char*> argv = {"test"};
    for (const auto& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    settings.resolve();
  }
};

TEST(Settings, CommandLineBeatsEnvironmentBeatsFileBeatsDefault) {
  tbtest::TempDir dir;
  const auto config = dir.file("c.toml");
  std::ofstream(config) << "listen = \"0.0.0.0:1\"\nmqtt = \"mqtt://file:1\"\n";
  ::setenv("TICKET_BRIDGE_MQTT", "mqtt://env:1", 1);
  Parsed p({"--config", config, "--retention-age", "1h"});
  ::unsetenv("TICKET_BRIDGE_MQTT");
  EXPECT_EQ(p.settings.get("retention-age"), "1h");
  EXPECT_EQ(p.settings.source("retention-age"), "command line");
  EXPECT_EQ(p.settings.get("mqtt"), "mqtt://env:1");
  EXPECT_EQ(p.settings.source("mqtt"), "environment");
  EXPECT_EQ(p.settings.get("listen"), "0.0.0.0:1");
  EXPECT_EQ(p.settings.source("listen"), "config file");
  Parsed d({});
  EXPECT_EQ(d.settings.get("listen"), "127.0.0.1:8080");
  EXPECT_EQ(d.settings.source("listen"), "default");
  EXPECT_FALSE(d.settings.get_opt("not-a-setting"));
}

TEST(Settings, AnUnknownConfigKeyOrABadNumberIsAUsageError) {
  tbtest::TempDir dir;
  const auto config = dir.file("c.toml");
  std::ofstream(config) << "lissen = \"0.0.0.0:1\"\n";
  EXPECT_THROW(Parsed({"--config", config}), UsageError);
  Parsed p({"--listen", "12x"});
  EXPECT_THROW(p.settings.get_int("listen", 0, 10), UsageError);
}

TEST(Settings, EnvironmentNames) {
  EXPECT_EQ(Settings::env_name("ws-ping-interval-ms"), "TICKET_BRIDGE_WS_PING_INTERVAL_MS");
}

TEST(Settings, Durations) {
  EXPECT_EQ(parse_duration_s("90"), 90);
  EXPECT_EQ(parse_duration_s("90s"), 90);
  EXPECT_EQ(parse_duration_s("15m"), 900);
  EXPECT_EQ(parse_duration_s("2h"), 7200);
  EXPECT_EQ(parse_duration_s("7d"), 604800);
  for (const char* bad :
       {"", "-1", "1w", "h", "1.5h", "99999999999999999999", "9223372036854775807d"}) {
    EXPECT_FALSE(parse_duration_s(bad)) << bad;
  }
}

}  // namespace
}  // namespace tb
