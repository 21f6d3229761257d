// bench_worker: the smallest possible "worker" for the benchmarks in this folder.
//
// Writes one byte to the descriptor named by BENCH_READY_FD, or to the FIFO named by BENCH_READY_FIFO
// (when it runs under `accelctl launch`, which passes no extra descriptors), then, if BENCH_FAIL_FD
// is set, waits for a byte on that descriptor and exits 1 (a failing worker on demand); otherwise it
// sleeps until a signal ends it.
//
// With BENCH_WRITE_SECONDS=S (log_tee_bench) it instead writes numbered lines to stdout as fast as it
// can for S seconds through a 64 KiB stdio buffer (so write(2) boundaries fall anywhere inside lines,
// as with a block-buffered Python print), then one closing line with its count, and exits 0:
//   "w<rank> <seq, 10 digits> xxxx...x\n"   (BENCH_LINE_BYTES bytes in all, default 120)
//   "end w<rank> <lines>\n"
// The rank is LOCAL_RANK (as accelctl sets it), else BENCH_RANK, else 0.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

int WriteLines(double seconds) {
  const char* rank_text = std::getenv("LOCAL_RANK");
  if (rank_text == nullptr) rank_text = std::getenv("BENCH_RANK");
  const int rank = rank_text != nullptr ? std::atoi(rank_text) : 0;
  const char* bytes_text = std::getenv("BENCH_LINE_BYTES");
  const int line_bytes = bytes_text != nullptr ? std::atoi(bytes_text) : 120;
  static char buffer[1 << 16];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof(buffer));

  char head[64];
  const int head_len = std::snprintf(head, sizeof(head), "w%d ", rank);
  // head + 10 digits + ' ' + filler + '\n'
  const int filler = line_bytes - head_len - 10 - 1 - 1;
  if (filler < 1) return 2;
  std::string line(static_cast<size_t>(line_bytes), 'x');
  line.replace(0, static_cast<size_t>(head_len), head);
  line[static_cast<size_t>(head_len + 10)] = ' ';
  line.back() = '\n';

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                             std::chrono::duration<double>(seconds));
  long long seq = 0;
  for (;;) {
    if ((seq & 255) == 0 && std::chrono::steady_clock::now() >= deadline) break;
    long long n = seq;
    for (int d = head_len + 9; d >= head_len; --d) {
      line[static_cast<size_t>(d)] = static_cast<char>('0' + n % 10);
      n /= 10;
    }
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) return 3;
    ++seq;
  }
  std::printf("end w%d %lld\n", rank, seq);
  return std::fflush(stdout) == 0 ? 0 : 3;
}

}  // namespace

int main() {
  if (const char* seconds = std::getenv("BENCH_WRITE_SECONDS")) return WriteLines(std::atof(seconds));
  char byte = 'r';
  if (const char* ready = std::getenv("BENCH_READY_FD")) {
    if (::write(std::atoi(ready), &byte, 1) != 1) return 2;
  }
  if (const char* fifo = std::getenv("BENCH_READY_FIFO")) {
    const int fd = ::open(fifo, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, &byte, 1) != 1) return 2;
    ::close(fd);
  }
  if (const char* fail = std::getenv("BENCH_FAIL_FD")) {
    [[maybe_unused]] ssize_t n = ::read(std::atoi(fail), &byte, 1);
    return 1;
  }
  for (;;) ::pause();
}
