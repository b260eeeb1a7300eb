// The one translation unit that compiles Asio and Asio.SSL (BOOST_ASIO_SEPARATE_COMPILATION):
// every other file includes only declarations, which keeps the build lean.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
