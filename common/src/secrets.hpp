// Secret files: the JWT signing secret and the API key. A file holds the secret itself;
// surrounding white space is trimmed.
#pragma once

#include <string>

namespace tb {

// Reads the secret in `path`. When the file is missing and `generate` is set, writes a fresh
// random secret there first (mode 0600, parent directories created). Throws std::runtime_error
// with a message fit for the user.
std::string load_secret(const std::string& path, bool generate, const char* what);

// Creates the parent directories of `path` when missing.
void ensure_parent_dir(const std::string& path);

}  // namespace tb
