// Replays files through a fuzz target's LLVMFuzzerTestOneInput without
// libFuzzer, so the committed seed corpus runs as an ordinary test in the
// g++ build (and a reproducer can be debugged with plain gdb).
//   corpus_driver FILE_OR_DIR...
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "corpus_driver: no inputs\n");
    return 1;
  }
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string data = buffer.str();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    // Every prefix too: cheap, and it walks the incomplete paths.
    for (size_t n = 0; n < data.size(); ++n) LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), n);
  }
  std::printf("%zu passed, 0 failed\n", files.size());
  return 0;
}
