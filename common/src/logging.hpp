// How both programs write their logs (to stderr): the line format (`--log-format`) and lines with
// named fields.
//
// text (the default): "2026-12-03T06:58:42.123+0000 info message key=value ...", for people.
// json: one object per line, {"time":"2026-12-03T06:58:42.123Z","level":"info","message":...,
// then the fields}, for journald and log shippers. Lines logged with plain spdlog calls have no
// fields; their message names what matters.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

namespace tb::logging {

enum class Format { Text, Json };

// "text" or "json"; nothing for anything else.
std::optional<Format> parse_format(std::string_view name);

// Sets the line format of the default logger's sinks. Call it before other threads log.
void set_format(Format format);

// One named value of a line. A string's view must outlive the call.
struct Field {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, double> value;
};
using Fields = std::span<const Field>;

// Logs `message` with `fields` on the default logger: in json they are keys of the line's object,
// in text they follow the message as key=value (a value with a space or a quote is quoted). Check
// spdlog::should_log first where building the fields costs something.
void log(spdlog::level::level_enum level, std::string_view message, Fields fields);
inline void log(spdlog::level::level_enum level, std::string_view message,
                std::initializer_list<Field> fields) {
  log(level, message, Fields(fields.begin(), fields.size()));
}

}  // namespace tb::logging
