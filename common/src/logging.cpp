// Log line formats and lines with fields (logging.hpp).
#include "logging.hpp"

#include <spdlog/pattern_formatter.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "timeutil.hpp"

namespace tb::logging {

namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v";

// The fields of the line being logged on this thread. The default logger's sinks are synchronous:
// they format the line inside the spdlog call, on the caller's thread.
thread_local const Fields* t_fields = nullptr;  // set only during log()

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (const char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

void append(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

void append_text_value(spdlog::memory_buf_t& dest, const Field& f) {
  if (const auto* s = std::get_if<std::string_view>(&f.value)) {
    if (!needs_quotes(*s)) return append(dest, *s);
    const auto quoted = nlohmann::json(std::string(*s))
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return append(dest, quoted);
  }
  if (const auto* i = std::get_if<std::int64_t>(&f.value)) return append(dest, std::to_string(*i));
  append(dest, nlohmann::json(std::get<double>(f.value)).dump());
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(Format format)
      : format_(format), text_(kTextPattern, spdlog::pattern_time_type::local, "") {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    if (format_ == Format::Json) {
      json_line(msg, dest);
    } else {
      text_.format(msg, dest);
      if (t_fields != nullptr) {
        for (const Field& f : *t_fields) {
          dest.push_back(' ');
          append(dest, f.key);
          dest.push_back('=');
          append_text_value(dest, f);
        }
      }
    }
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  static void json_line(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    nlohmann::ordered_json line;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch());
    line["time"] = format_rfc3339(ms.count());
    const auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    line["message"] = std::string(msg.payload.data(), msg.payload.size());
    if (t_fields != nullptr) {
      for (const Field& f : *t_fields) {
        std::visit(
            [&](const auto& v) {
              using V = std::decay_t<decltype(v)>;
              if constexpr (std::is_same_v<V, std::string_view>) {
                line[std::string(f.key)] = std::string(v);
              } else {
                line[std::string(f.key)] = v;
              }
            },
            f.value);
      }
    }
    // Invalid UTF-8 from a client (a scan's code, a path) becomes U+FFFD, never an exception.
    append(dest, line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  Format format_;
  spdlog::pattern_formatter text_;
};

}  // namespace

std::optional<Format> parse_format(std::string_view name) {
  if (name == "text") return Format::Text;
  if (name == "json") return Format::Json;
  return std::nullopt;
}

void set_format(Format format) {
  spdlog::set_formatter(std::make_unique<LineFormatter>(format));
}

void log(spdlog::level::level_enum level, std::string_view message, Fields fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  struct Scope {
    explicit Scope(const Fields& f) { t_fields = &f; }
    ~Scope() { t_fields = nullptr; }
  } scope(fields);
  logger->log(level, spdlog::string_view_t(message.data(), message.size()));
}

}  // namespace tb::logging
