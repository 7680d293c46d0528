// Reading codes from a scanner: keyboard wedge on stdin, a USB-serial port, or a Linux evdev
// device. Readers call back with each raw line; checking a line is separate and pure.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sa {

// Why a line is not a code we send, or nothing when it is one.
std::optional<std::string> check_code(std::string_view code);

// Splits a byte stream into lines at CR, LF or CRLF. Lines longer than `max_line` are dropped
// whole and reported as an empty-named "(too long)" line so that staff hear about them.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = 1024) : max_line_(max_line) {}
  std::vector<std::string> feed(std::string_view bytes);
  static constexpr std::string_view kTooLong = "\x01too-long";

 private:
  std::size_t max_line_;
  std::string current_;
  bool overflow_ = false;
};

// The same code read again within the window counts once (scanners double-read).
class Debouncer {
 public:
  explicit Debouncer(std::chrono::milliseconds window) : window_(window) {}
  bool accept(const std::string& code, std::chrono::steady_clock::time_point now);

 private:
  std::chrono::milliseconds window_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_;
};

using LineHandler = std::function<void(std::string)>;

// Reads lines from `fd` until end of file, an error, or `stop_fd` becoming readable.
// Returns "eof", "stop" or the error text.
std::string read_lines(int fd, int stop_fd, const LineHandler& on_line);

// The input spec: "stdin", "serial:/dev/ttyACM0[:BAUD]", "evdev:/dev/input/eventN".
struct InputSpec {
  enum Kind { Stdin, Serial, Evdev } kind = Stdin;
  std::string path;
  int baud = 9600;
};
std::optional<InputSpec> parse_input(const std::string& text, std::string& error);

// Opens a serial port in raw mode at `baud`; -1 with `error` set on failure.
int open_serial(const std::string& path, int baud, std::string& error);

// Reads a serial scanner until `stop_fd` is readable, reopening the device when it goes away.
void run_serial(const InputSpec& spec, int stop_fd, const LineHandler& on_line);
// Reads an evdev scanner (grabbed exclusively) until `stop_fd` is readable, reopening it.
void run_evdev(const InputSpec& spec, int stop_fd, const LineHandler& on_line);

}  // namespace sa
