// Scanner input: line splitting, checks, serial ports and evdev devices.
#include "input.hpp"

#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "ids.hpp"
#include "keymap.hpp"
#include "rotating_code.hpp"

namespace sa {

std::optional<std::string> check_code(std::string_view code) {
  if (tb::looks_signed(code)) {
    // A signed code (SPEC.md v1.1) is checked for its shape here; its signature is the bridge's
    // business online.
    auto decoded = tb::decode_scanned_signed_code(code);
    if (auto* why = std::get_if<std::string>(&decoded)) return "not a valid signed code: " + *why;
    return std::nullopt;
  }
  if (code.size() > tb::kMaxIdLength * 4) return "too long";
  const auto n = tb::utf8_length(code);
  if (!n) return "not valid text (bad UTF-8)";
  if (*n > tb::kMaxIdLength) return "too long (" + std::to_string(*n) + " characters, at most 128)";
  for (const char c : code) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return "contains control characters";
  }
  if (!tb::is_valid_id(code)) return "contains '/', '+', '#' or spaces";
  return std::nullopt;
}

std::vector<std::string> LineSplitter::feed(std::string_view bytes) {
  std::vector<std::string> out;
  for (const char c : bytes) {
    if (c == '\r' || c == '\n') {
      if (overflow_) {
        out.emplace_back(kTooLong);
      } else if (!current_.empty()) {
        out.push_back(current_);
      }
      current_.clear();
      overflow_ = false;
      continue;
    }
    if (overflow_) continue;
    if (current_.size() >= max_line_) {
      overflow_ = true;
      current_.clear();
      continue;
    }
    current_ += c;
  }
  return out;
}

bool Debouncer::accept(const std::string& code, std::chrono::steady_clock::time_point now) {
  // Forget old reads so that the map stays small.
  if (last_.size() > 1024) {
    for (auto it = last_.begin(); it != last_.end();) {
      it = now - it->second > window_ ? last_.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = last_.try_emplace(code, now);
  if (fresh) return true;
  const bool repeat = now - it->second < window_;
  it->second = now;
  return !repeat;
}

std::string read_lines(int fd, int stop_fd, const LineHandler& on_line) {
  LineSplitter splitter;
  char buf[4096];
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const int n = poll(fds, stop_fd >= 0 ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::strerror(errno);
    }
    if (stop_fd >= 0 && (fds[1].revents & POLLIN) != 0) return "stop";
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got == 0) {
      for (auto& line : splitter.feed("\n")) on_line(std::move(line));  // a last unterminated line
      return "eof";
    }
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return std::strerror(errno);
    }
    for (auto& line : splitter.feed(std::string_view(buf, static_cast<std::size_t>(got)))) {
      on_line(std::move(line));
    }
  }
}

std::optional<InputSpec> parse_input(const std::string& text, std::string& error) {
  InputSpec spec;
  if (text == "stdin") return spec;
  const auto colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  if (colon == std::string::npos || colon + 1 >= text.size() ||
      (kind != "serial" && kind != "evdev")) {
    error = "--input must be stdin, serial:/dev/ttyACM0[:BAUD] or evdev:/dev/input/eventN";
    return std::nullopt;
  }
  std::string rest = text.substr(colon + 1);
  if (kind == "serial") {
    spec.kind = InputSpec::Serial;
    const auto baud_at = rest.rfind(':');
    if (baud_at != std::string::npos) {
      try {
        spec.baud = std::stoi(rest.substr(baud_at + 1));
      } catch (const std::exception&) {
        spec.baud = -1;
      }
      rest = rest.substr(0, baud_at);
    }
    static const int kBauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400};
    if (std::find(std::begin(kBauds), std::end(kBauds), spec.baud) == std::end(kBauds)) {
      error = "serial baud rate must be one of 1200 2400 4800 9600 19200 38400 57600 115200 230400";
      return std::nullopt;
    }
  } else {
    spec.kind = InputSpec::Evdev;
  }
  spec.path = rest;
  return spec;
}

namespace {

speed_t baud_constant(int baud) {
  switch (baud) {
    case 1200:
      return B1200;
    case 2400:
      return B2400;
    case 4800:
      return B4800;
    case 19200:
      return B19200;
    case 38400:
      return B38400;
    case 57600:
      return B57600;
    case 115200:
      return B115200;
    case 230400:
      return B230400;
    default:
      return B9600;
  }
}

// Sleeps `d` unless `stop_fd` becomes readable first; true when asked to stop.
bool stop_requested(int stop_fd, std::chrono::milliseconds d) {
  pollfd p{stop_fd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(d.count())) > 0;
}

}  // namespace

int open_serial(const std::string& path, int baud, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return -1;
  }
  termios tio{};
  if (tcgetattr(fd, &tio) != 0) {
    error = path + " is not a serial port: " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  cfmakeraw(&tio);
  tio.c_cflag |= CLOCAL | CREAD;
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  cfsetispeed(&tio, baud_constant(baud));
  cfsetospeed(&tio, baud_constant(baud));
  if (tcsetattr(fd, TCSANOW, &tio) != 0) {
    error = "cannot configure " + path + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  tcflush(fd, TCIFLUSH);
  return fd;
}

void run_serial(const InputSpec& spec, int stop_fd, const LineHandler& on_line) {
  bool reported = false;
  for (;;) {
    std::string error;
    const int fd = open_serial(spec.path, spec.baud, error);
    if (fd < 0) {
      if (!reported) spdlog::warn("{}; retrying every second", error);
      reported = true;
      if (stop_requested(stop_fd, std::chrono::seconds(1))) return;
      continue;
    }
    spdlog::info("reading scans from {} at {} baud", spec.path, spec.baud);
    reported = false;
    const std::string why = read_lines(fd, stop_fd, on_line);
    ::close(fd);
    if (why == "stop") return;
    spdlog::warn("{} went away ({}); waiting for it to come back", spec.path, why);
    if (stop_requested(stop_fd, std::chrono::milliseconds(500))) return;
  }
}

void run_evdev(const InputSpec& spec, int stop_fd, const LineHandler& on_line) {
  bool reported = false;
  for (;;) {
    const int fd = ::open(spec.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      if (!reported) {
        spdlog::warn("cannot open {}: {}; retrying every second", spec.path, std::strerror(errno));
      }
      reported = true;
      if (stop_requested(stop_fd, std::chrono::seconds(1))) return;
      continue;
    }
    reported = false;
    // Exclusive: the scanner's keystrokes must not also land in a console or a desktop.
    if (ioctl(fd, EVIOCGRAB, 1) != 0) {
      spdlog::warn("cannot grab {} exclusively ({}); reading anyway", spec.path,
                   std::strerror(errno));
    }
    spdlog::info("reading scans from {}", spec.path);
    KeyDecoder decoder;
    std::string why;
    for (;;) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        why = std::strerror(errno);
        break;
      }
      if ((fds[1].revents & POLLIN) != 0) {
        why = "stop";
        break;
      }
      input_event ev[64];
      const ssize_t got = ::read(fd, ev, sizeof ev);
      if (got <= 0) {
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        why = got == 0 ? "eof" : std::strerror(errno);
        break;
      }
      for (std::size_t i = 0; i < static_cast<std::size_t>(got) / sizeof(input_event); ++i) {
        if (ev[i].type != EV_KEY) continue;
        if (auto code = decoder.feed(ev[i].code, ev[i].value); code && !code->empty()) {
          on_line(std::move(*code));
        }
      }
    }
    ioctl(fd, EVIOCGRAB, 0);
    ::close(fd);
    if (why == "stop") return;
    spdlog::warn("{} went away ({}); waiting for it to come back", spec.path, why);
    if (stop_requested(stop_fd, std::chrono::milliseconds(500))) return;
  }
}

}  // namespace sa
