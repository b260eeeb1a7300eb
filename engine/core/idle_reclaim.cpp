// What an idle engine gives back: connection pools of origins no mapping uses, and pooled
// staging buffers nothing took for a while. A service that maps all day from many origins and
// sits idle at night keeps only what its live mappings need.
#include <boost/asio/steady_timer.hpp>

#include "core/engine_impl.hpp"
#include "base/log.hpp"

namespace mmapurl::core {

// A program that maps the same origin again within MMAPURL_IDLE_RELEASE finds its connections
// still open; the engine looks a few times per such period, so nothing idles much longer.
void EngineImpl::start_idle_reclaim() {
  const auto tick = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::min(10.0, config.idle_release_s / 4)));
  if (!reclaim_timer) reclaim_timer = std::make_unique<boost::asio::steady_timer>(*io);
  reclaim_timer->expires_after(tick);
  reclaim_timer->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    contain(
        "reclaiming idle state", [&] { reclaim_idle(Clock::now()); }, [](Contained) {});
    start_idle_reclaim();
  });
}

void EngineImpl::reclaim_idle(Clock::time_point now) {
  const auto idle_time = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(config.idle_release_s));
  std::unordered_set<const net::ConnectionPool*> in_use;
  for (const auto& [id, m] : registry.all()) in_use.insert(m->pool);
  for (auto it = pools.begin(); it != pools.end();) {
    net::ConnectionPool* pool = it->second.get();
    if (in_use.count(pool) || !pool->idle()) {
      pool_idle_since.erase(pool);
      ++it;
      continue;
    }
    auto [since, fresh] = pool_idle_since.emplace(pool, now);
    if (!fresh && now - since->second >= idle_time) {
      MMAPURL_LOG(LogLevel::kDebug, "dropping the idle connections to " + it->first);
      pool_idle_since.erase(since);
      it = pools.erase(it);
      continue;
    }
    ++it;
  }
  if (staging.spare_bytes() > 0 && now - staging.last_taken() >= idle_time) {
    staging.trim(staging.spare_bytes());
  }
}

}  // namespace mmapurl::core
