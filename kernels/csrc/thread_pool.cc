// The CPU kernels' worker pool; see thread_pool.h for why it exists.
#include "kernels/csrc/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define APK_CPU_RELAX() _mm_pause()
#else
#define APK_CPU_RELAX() ((void)0)
#endif

namespace apk::cpu {
namespace {

using Clock = std::chrono::steady_clock;

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);  // "4" or "4,2" (nested levels): the first level
    if (n > 0) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

struct Job {
  void (*fn)(void*, int64_t);
  void* ctx;
  int64_t n;
  std::atomic<int64_t> next{0};

  void work() {
    for (int64_t j; (j = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(ctx, j);
  }
};

class Pool {
 public:
  void run(int64_t n, void (*fn)(void*, int64_t), void* ctx) {
    Job job{fn, ctx, n};
    std::unique_lock<std::mutex> only_one(run_mu_, std::try_to_lock);
    if (!only_one.owns_lock() || threads_.load() < 2) {  // busy (another thread's call) or 1 thread
      job.work();
      return;
    }
    resize_workers();
    {
      std::lock_guard<std::mutex> l(mu_);
      job_ = &job;
      generation_.fetch_add(1, std::memory_order_release);
      if (sleepers_ > 0) wake_.notify_all();
    }
    job.work();
    // No worker may pick the job up from here on; wait for those inside it.
    {
      std::lock_guard<std::mutex> l(mu_);
      job_ = nullptr;
    }
    const auto spin_until = Clock::now() + std::chrono::microseconds(kSpinMicros);
    while (inside_.load(std::memory_order_acquire) > 0 && Clock::now() < spin_until) APK_CPU_RELAX();
    std::unique_lock<std::mutex> l(mu_);
    done_.wait(l, [&] { return inside_.load(std::memory_order_acquire) == 0; });
  }

  int threads() const { return threads_.load(); }
  void set_threads(int n) { threads_.store(n < 1 ? 1 : n); }

 private:
  // Called with run_mu_ held: no job is running.
  void resize_workers() {
    const size_t want = static_cast<size_t>(threads_.load() - 1);
    if (workers_.size() == want) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      wake_.notify_all();
    }
    for (auto& w : workers_) w.join();
    workers_.clear();
    stop_ = false;
    for (size_t i = 0; i < want; ++i) workers_.emplace_back([this] { worker(); });
  }

  void worker() {
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      const auto spin_until = Clock::now() + std::chrono::microseconds(kSpinMicros);
      for (int i = 0; generation_.load(std::memory_order_acquire) == seen; ++i) {
        if ((i & 63) == 63 && Clock::now() >= spin_until) break;
        APK_CPU_RELAX();
      }
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> l(mu_);
        if (generation_.load() == seen && !stop_) {
          ++sleepers_;
          wake_.wait(l, [&] { return generation_.load() != seen || stop_; });
          --sleepers_;
        }
        if (stop_) return;
        seen = generation_.load();
        job = job_;
        if (job) inside_.fetch_add(1, std::memory_order_relaxed);
      }
      if (!job) continue;  // woke after its caller had finished it
      job->work();
      if (inside_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> l(mu_);  // the caller checks inside_ under mu_: no lost wake-up
        done_.notify_all();
      }
    }
  }

  std::mutex run_mu_;  // held by the call that owns the workers
  std::mutex mu_;      // guards job_, sleepers_, stop_ and the waits
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> inside_{0};
  std::atomic<int> threads_{default_threads()};
  Job* job_ = nullptr;
  int sleepers_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// A job on an Executor's threads: shared, so that a helper task that starts after the call has
// returned still holds valid memory (it finds next >= n and returns).
struct SharedJob {
  void (*fn)(void*, int64_t);
  void* ctx;
  int64_t n;
  std::atomic<int64_t> next{0}, finished{0};
  std::mutex mu;
  std::condition_variable all_done;

  void work() {
    for (int64_t j; (j = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
      fn(ctx, j);
      if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
        std::lock_guard<std::mutex> l(mu);
        all_done.notify_all();
      }
    }
  }
};

void run_on_executor(int64_t n, void (*fn)(void*, int64_t), void* ctx, const Executor& ex) {
  auto job = std::make_shared<SharedJob>();
  job->fn = fn;
  job->ctx = ctx;
  job->n = n;
  const int64_t helpers = std::min<int64_t>(ex.threads - 1, n - 1);
  for (int64_t h = 0; h < helpers; ++h) {
    ex.schedule(ex.self, [](void* data) {
      auto* held = static_cast<std::shared_ptr<SharedJob>*>(data);
      (*held)->work();
      delete held;
    }, new std::shared_ptr<SharedJob>(job));
  }
  job->work();
  const auto spin_until = Clock::now() + std::chrono::microseconds(kSpinMicros);
  while (job->finished.load(std::memory_order_acquire) < n && Clock::now() < spin_until) APK_CPU_RELAX();
  std::unique_lock<std::mutex> l(job->mu);
  job->all_done.wait(l, [&] { return job->finished.load(std::memory_order_acquire) == n; });
}

// Never destroyed: workers may be blocked at exit, and a forked child abandons its parent's pool
// (its threads do not exist there) for a new one with the same thread count.
Pool* g_pool = nullptr;
std::once_flag g_once;

void start_fresh_in_child() {
  const int n = g_pool->threads();
  g_pool = new Pool();
  g_pool->set_threads(n);
}

Pool& pool() {
  std::call_once(g_once, [] {
    g_pool = new Pool();
    pthread_atfork(nullptr, nullptr, start_fresh_in_child);
  });
  return *g_pool;
}

}  // namespace

int pool_threads() { return pool().threads(); }
void set_pool_threads(int n) { pool().set_threads(n); }

void parallel_for(int64_t n, void (*fn)(void*, int64_t), void* ctx, const Executor* ex) {
  if (ex && ex->threads >= 2) {
    run_on_executor(n, fn, ctx, *ex);
  } else {
    pool().run(n, fn, ctx);
  }
}

}  // namespace apk::cpu
