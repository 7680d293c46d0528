// scanner-agent: reads codes from a scanner, publishes them as scans, shows the gate's answer.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "agent.hpp"
#include "ids.hpp"
#include "logging.hpp"
#include "secrets.hpp"
#include "version.hpp"

namespace {

std::chrono::milliseconds seconds_option(double s) {
  return std::chrono::milliseconds(static_cast<long>(s * 1000.0));
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("scanner-agent"));
  tb::logging::set_format(tb::logging::Format::Text);

  CLI::App app{"scanner-agent: publishes each scan of a gate's scanner and shows the answer."};
  app.footer(
      "Output: one line per scan (ADMIT / REJECT / NO ANSWER), or one JSON object per line with "
      "--json. Logs go to stderr. Options also read from SCANNER_AGENT_<OPTION>.");
  sa::AgentOptions o;
  std::string input = "stdin", log_level = "info", log_format = "text", color = "auto",
              password_file;
  double timeout_s = 1.5, debounce_s = 1.5, retry_s = 5.0;
  std::vector<std::string> offline_keys;
  std::string rotating_key;
  std::string username, cafile, certfile, keyfile, on_admit, on_reject, on_timeout;
  app.add_option("--broker", o.broker, "broker URL (mqtt://host:port, ssl://host:8883)")
      ->envname("SCANNER_AGENT_BROKER")
      ->capture_default_str();
  app.add_option("--id", o.id, "this scanner's id (topic-safe: no / + # or spaces)")
      ->envname("SCANNER_AGENT_ID")
      ->required();
  app.add_option("--gate", o.gate, "the gate this scanner stands at")
      ->envname("SCANNER_AGENT_GATE")
      ->required();
  app.add_option("--direction", o.direction, "in or out")
      ->envname("SCANNER_AGENT_DIRECTION")
      ->check(CLI::IsMember({"in", "out"}))
      ->capture_default_str();
  app.add_flag("--json", o.json, "print one JSON object per line instead of text")
      ->envname("SCANNER_AGENT_JSON");
  app.add_option("--input", input, "stdin, serial:/dev/ttyACM0[:BAUD] or evdev:/dev/input/eventN")
      ->envname("SCANNER_AGENT_INPUT")
      ->capture_default_str();
  app.add_option("--timeout", timeout_s, "seconds to wait for the answer before NO ANSWER")
      ->envname("SCANNER_AGENT_TIMEOUT")
      ->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  app.add_option("--debounce", debounce_s, "seconds in which a repeated code counts once (0: off)")
      ->envname("SCANNER_AGENT_DEBOUNCE")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--retry", retry_s,
                 "seconds before an unanswered scan is sent again (doubles, "
                 "up to 5 minutes)")
      ->envname("SCANNER_AGENT_RETRY")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--queue-limit", o.queue_limit, "most scans kept while the broker is away")
      ->envname("SCANNER_AGENT_QUEUE_LIMIT")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  app.add_option("--journal", o.journal_path,
                 "journal file of unanswered scans (default var/scanner-<id>.journal)")
      ->envname("SCANNER_AGENT_JOURNAL");
  app.add_option("--offline-key", offline_keys,
                 "the venue's public key (PEM, from ticket-bridge keys init; repeat for old keys): "
                 "signed codes are decided here when the bridge does not answer within --timeout "
                 "or the broker is unreachable")
      ->envname("SCANNER_AGENT_OFFLINE_KEY")
      ->check(CLI::ExistingFile);
  app.add_option("--rotating-key", rotating_key,
                 "the venue's rotating key (ticket-bridge's rotating-key file), to decide rotating "
                 "tickets offline")
      ->envname("SCANNER_AGENT_ROTATING_KEY")
      ->check(CLI::ExistingFile);
  app.add_option("--feed-limit", o.feed_limit,
                 "with --offline-key: signed tickets the gate's record of the bridge's feed holds "
                 "(what other gates let in; about 53 bytes each in the journal)")
      ->envname("SCANNER_AGENT_FEED_LIMIT")
      ->check(CLI::Range(1, 100'000'000))
      ->capture_default_str();
  app.add_option("--username", username, "broker user name")->envname("SCANNER_AGENT_USERNAME");
  app.add_option("--password-file", password_file, "file holding the broker password")
      ->envname("SCANNER_AGENT_PASSWORD_FILE");
  app.add_option("--cafile", cafile, "CA certificate to verify the broker (TLS)")
      ->envname("SCANNER_AGENT_CAFILE");
  app.add_option("--cert", certfile, "client certificate (TLS)")->envname("SCANNER_AGENT_CERT");
  app.add_option("--key", keyfile, "client private key (TLS)")->envname("SCANNER_AGENT_KEY");
  bool no_hostname_check = false;
  app.add_flag("--tls-no-hostname-check", no_hostname_check,
               "TLS: accept a broker certificate that does not name the host of --broker")
      ->envname("SCANNER_AGENT_TLS_NO_HOSTNAME_CHECK");
  app.add_option("--on-admit", on_admit, "shell command run on ADMIT/EXIT (TB_* variables set)")
      ->envname("SCANNER_AGENT_ON_ADMIT");
  app.add_option("--on-reject", on_reject, "shell command run on REJECT")
      ->envname("SCANNER_AGENT_ON_REJECT");
  app.add_option("--on-timeout", on_timeout, "shell command run on NO ANSWER")
      ->envname("SCANNER_AGENT_ON_TIMEOUT");
  app.add_option("--color", color, "auto, always or never")
      ->envname("SCANNER_AGENT_COLOR")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->envname("SCANNER_AGENT_LOG_LEVEL")
      ->capture_default_str();
  app.add_option("--log-format", log_format,
                 "text, or json: one object per line (time, level, message, scan_id, ...)")
      ->envname("SCANNER_AGENT_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  app.set_version_flag("--version", std::string("scanner-agent ") + tb::kVersion,
                       "print the version and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  std::string error;
  const auto spec = sa::parse_input(input, error);
  if (!spec) {
    std::cerr << "scanner-agent: " << error << "\n";
    return 2;
  }
  if (!tb::is_valid_id(o.id)) {
    std::cerr << "scanner-agent: --id must be 1-128 characters without / + # or spaces\n";
    return 2;
  }
  if (o.gate.empty() || o.gate.size() > 128) {
    std::cerr << "scanner-agent: --gate must be 1-128 characters\n";
    return 2;
  }
  const auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off") {
    std::cerr << "scanner-agent: --log-level must be trace, debug, info, warn, error or off\n";
    return 2;
  }
  spdlog::set_level(level);
  tb::logging::set_format(*tb::logging::parse_format(log_format));  // checked by IsMember above
  o.answer_timeout = seconds_option(timeout_s);
  o.debounce = seconds_option(debounce_s);
  o.retry_min = seconds_option(retry_s);
  o.color = color == "always" || (color == "auto" && !o.json && isatty(STDOUT_FILENO) != 0);
  if (!username.empty()) o.username = username;
  if (!username.empty() && username != o.id) {
    // The production broker binds a scanner to its user name: client id scanner-<user>, scans
    // naming it as `scanner`.
    spdlog::warn(
        "--username {} differs from --id {}: the production broker (tb_auth) refuses "
        "this scanner; use the same name for both",
        username, o.id);
  }
  if (!cafile.empty()) o.tls.cafile = cafile;
  if (!certfile.empty()) o.tls.certfile = certfile;
  if (!keyfile.empty()) o.tls.keyfile = keyfile;
  o.tls.check_hostname = !no_hostname_check;
  if (!on_admit.empty()) o.on_admit = on_admit;
  if (!on_reject.empty()) o.on_reject = on_reject;
  if (!on_timeout.empty()) o.on_timeout = on_timeout;
  if (o.journal_path.empty()) o.journal_path = "var/scanner-" + o.id + ".journal";
  if (!rotating_key.empty() && offline_keys.empty()) {
    std::cerr << "scanner-agent: --rotating-key needs --offline-key\n";
    return 2;
  }
  if (!offline_keys.empty()) {
    try {
      o.offline = sa::load_offline_keys(offline_keys, rotating_key);
    } catch (const std::exception& e) {
      std::cerr << "scanner-agent: " << e.what() << "\n";
      return 2;
    }
  }

  // Hooks are reaped by the kernel; SIGINT/SIGTERM are taken by a thread below.
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<sa::Agent> agent;
  try {
    if (!password_file.empty())
      o.password = tb::load_secret(password_file, false, "broker password");
    tb::ensure_parent_dir(o.journal_path);
    agent = std::make_unique<sa::Agent>(o, std::cout);
  } catch (const std::exception& e) {
    std::cerr << "scanner-agent: " << e.what() << "\n";
    return 1;
  }
  agent->start();

  // A pipe that tells the input reader to stop.
  int stop_pipe[2];
  if (pipe2(stop_pipe, O_CLOEXEC) != 0) return 1;
  std::atomic<bool> input_ended{false};
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (!input_ended) spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    const char b = 1;
    (void)!write(stop_pipe[1], &b, 1);
  });

  const auto on_line = [&](std::string line) { agent->on_line(std::move(line)); };
  bool eof = false;
  switch (spec->kind) {
    case sa::InputSpec::Stdin: {
      const std::string why = sa::read_lines(STDIN_FILENO, stop_pipe[0], on_line);
      eof = why == "eof";
      if (why != "eof" && why != "stop") spdlog::error("reading stdin: {}", why);
      break;
    }
    case sa::InputSpec::Serial:
      sa::run_serial(*spec, stop_pipe[0], on_line);
      break;
    case sa::InputSpec::Evdev:
      sa::run_evdev(*spec, stop_pipe[0], on_line);
      break;
  }
  // At the end of the input, staff still get the answers of the last scans.
  if (eof) agent->settle(o.answer_timeout + std::chrono::milliseconds(200));
  agent->stop();
  if (eof) {
    input_ended = true;
    pthread_kill(signals.native_handle(), SIGTERM);  // wakes sigwait
  }
  signals.join();
  return 0;
}
