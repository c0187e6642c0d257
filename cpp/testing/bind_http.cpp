// The HTTP engine for tests and benchmarks (backfill._core._testing): HttpClient.request /
// request_many / stats, paginate, and the header helpers. Sources, embedders and sinks use the engine
// from C++ directly.
#include <pybind11/stl.h>

#include "backfill/embed/openai.hpp"
#include "backfill/http/client.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/http/retry_after.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "backfill/sources/slack/classify.hpp"
#include "bindings.hpp"

namespace backfill::python {
namespace {

using namespace backfill::http;

std::vector<header> to_headers(const py::object& obj) {
  std::vector<header> out;
  if (obj.is_none()) return out;
  if (py::isinstance<py::dict>(obj)) {
    for (auto item : obj.cast<py::dict>())
      out.push_back({item.first.cast<std::string>(), item.second.cast<std::string>()});
  } else {
    for (auto item : obj) {
      auto pair = item.cast<std::pair<std::string, std::string>>();
      out.push_back({pair.first, pair.second});
    }
  }
  return out;
}

std::string to_body(const py::object& obj) {
  if (obj.is_none()) return {};
  if (py::isinstance<py::bytes>(obj)) return obj.cast<std::string>();
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();
  throw py::type_error("body must be bytes or str");
}

// The keys of the request and response dicts, interned once (kept for the life of the process).
struct dict_keys {
  PyObject *status, *headers, *body, *attempts, *seconds, *request_id, *url, *method;
};

const dict_keys& keys() {
  static const dict_keys k{PyUnicode_InternFromString("status"),  PyUnicode_InternFromString("headers"),
                           PyUnicode_InternFromString("body"),    PyUnicode_InternFromString("attempts"),
                           PyUnicode_InternFromString("seconds"), PyUnicode_InternFromString("request_id"),
                           PyUnicode_InternFromString("url"),     PyUnicode_InternFromString("method")};
  return k;
}

// A request of request_many from its dict: {"url", "method" = "GET", "headers", "body"}.
request request_from(const py::dict& d) {
  const dict_keys& k = keys();
  auto get = [&](PyObject* key) -> py::object {
    PyObject* v = PyDict_GetItemWithError(d.ptr(), key);  // borrowed
    if (!v && PyErr_Occurred()) throw py::error_already_set();
    return v ? py::reinterpret_borrow<py::object>(v) : py::object(py::none());
  };
  request r;
  py::object method = get(k.method), url = get(k.url);
  if (url.is_none() && !PyDict_Contains(d.ptr(), k.url)) throw py::key_error("url");
  r.method = method.is_none() && !PyDict_Contains(d.ptr(), k.method) ? "GET" : method.cast<std::string>();
  r.url = url.cast<std::string>();
  r.headers = to_headers(get(k.headers));
  r.body = to_body(get(k.body));
  return r;
}

// Header names repeat from response to response: their Python strings are made once (a few dozen
// names at most, kept for the life of the process; the GIL guards the cache).
py::str header_name(const std::string& name) {
  static std::vector<std::pair<std::string, PyObject*>> cache;
  for (const auto& [n, obj] : cache)
    if (n == name) return py::reinterpret_borrow<py::str>(obj);
  py::str made(name);
  if (cache.size() < 64) cache.emplace_back(name, made.inc_ref().ptr());
  return made;
}

void set_item(const py::dict& d, PyObject* key, const py::handle& value) {
  if (PyDict_SetItem(d.ptr(), key, value.ptr()) != 0) throw py::error_already_set();
}

py::dict to_dict(const response& r) {
  const dict_keys& k = keys();
  py::dict d;
  set_item(d, k.status, py::int_(r.status));
  py::dict headers;
  for (const auto& h : r.headers) {
    py::str name = header_name(h.name), value(h.value);
    if (PyDict_SetItem(headers.ptr(), name.ptr(), value.ptr()) != 0) throw py::error_already_set();
  }
  set_item(d, k.headers, headers);
  set_item(d, k.body, py::bytes(r.body));
  set_item(d, k.attempts, py::int_(r.attempts));
  set_item(d, k.seconds, py::float_(r.seconds));
  set_item(d, k.request_id, py::str(r.request_id()));
  set_item(d, k.url, py::str(r.url));
  return d;
}

// The dict of a response, whose memory then goes back to the client for the next responses.
py::dict to_dict(client& c, response&& r) {
  py::dict d = to_dict(r);
  c.recycle(std::move(r));
  return d;
}

host_limit to_limit(const py::dict& d, const host_limit& base) {
  host_limit l = base;
  if (d.contains("rate")) l.rate = d["rate"].cast<double>();
  if (d.contains("burst")) l.burst = d["burst"].cast<double>();
  if (d.contains("max_in_flight")) l.max_in_flight = d["max_in_flight"].cast<int>();
  return l;
}

// The classifier of an API the tests speak to through the bare client: "" (none: the engine's rules),
// "slack" (the Web API's in-body rate limit) or "openai" (insufficient_quota).
classifier classifier_named(const std::string& name) {
  if (name.empty()) return {};
  if (name == "slack") return slack::classify_response;
  if (name == "openai") return openai::classify_response;
  throw config_error("classify must be '', 'slack' or 'openai', got '" + name + "'");
}

// Waits for `h`, ticking the run context so Ctrl-C and logs flow while the GIL is released.
response wait_released(client& c, const client::handle& h) {
  response out;
  run_released([&](run_context& ctx) { out = c.wait(h, &ctx); }, py::none(), py::none());
  return out;
}

}  // namespace

void register_http(py::module_& m) {
  py::class_<client, std::shared_ptr<client>>(m, "HttpClient")
      .def(
          py::init([](double connect_timeout, double timeout, double low_speed_seconds, bool verify_tls,
                      std::string ca_bundle, std::string proxy, std::string user_agent, bool http2,
                      int max_attempts, double base_delay, double max_delay, double max_elapsed, double rate,
                      double burst, int max_in_flight, py::dict host_limits, std::vector<std::string> secrets,
                      int max_total_in_flight, const std::string& classify, double slow_seconds) {
            client_options o;
            o.connect_timeout = connect_timeout;
            o.timeout = timeout;
            o.low_speed_seconds = low_speed_seconds;
            o.verify_tls = verify_tls;
            o.ca_bundle = std::move(ca_bundle);
            o.proxy = std::move(proxy);
            o.user_agent = std::move(user_agent);
            o.http2 = http2;
            o.retry = {max_attempts, base_delay, max_delay, max_elapsed};
            o.default_limit = {rate, burst, max_in_flight};
            for (auto item : host_limits)
              o.host_limits[item.first.cast<std::string>()] =
                  to_limit(item.second.cast<py::dict>(), o.default_limit);
            o.secrets = std::move(secrets);
            o.max_total_in_flight = max_total_in_flight;
            o.classify = classifier_named(classify);
            o.slow_seconds = slow_seconds;
            return std::make_shared<client>(std::move(o));
          }),
          py::kw_only(), py::arg("connect_timeout") = 10.0, py::arg("timeout") = 120.0,
          py::arg("low_speed_seconds") = 30.0, py::arg("verify_tls") = true, py::arg("ca_bundle") = "",
          py::arg("proxy") = "", py::arg("user_agent") = "", py::arg("http2") = true,
          py::arg("max_attempts") = 8, py::arg("base_delay") = 0.5, py::arg("max_delay") = 60.0,
          py::arg("max_elapsed") = 900.0, py::arg("rate") = 0.0, py::arg("burst") = 1.0,
          py::arg("max_in_flight") = 8, py::arg("host_limits") = py::dict(),
          py::arg("secrets") = std::vector<std::string>{}, py::arg("max_total_in_flight") = 64,
          py::arg("classify") = "", py::arg("slow_seconds") = 10.0)
      .def(
          "request",
          [](client& self, std::string method, std::string url, py::object headers, py::object body) {
            request r{std::move(method), std::move(url), to_headers(headers), to_body(body)};
            auto h = self.submit(std::move(r));
            return to_dict(self, wait_released(self, h));
          },
          py::arg("method"), py::arg("url"), py::arg("headers") = py::none(), py::arg("body") = py::none(),
          "One request, retried as the policy allows. Returns {status, headers, body, attempts, seconds, "
          "request_id, url}; raises backfill.errors.HttpError.")
      .def(
          "request_many",
          [](client& self, py::list requests, bool raise_on_error) {
            std::vector<client::handle> handles;
            handles.reserve(requests.size());
            for (auto item : requests) handles.push_back(self.submit(request_from(item.cast<py::dict>())));
            // One stretch without the GIL for the whole batch: wait for the last request first (the
            // caller then sleeps about once for the batch instead of once for every response), then
            // take every result in order. The first failure, when it raises, cancels the rest.
            std::vector<response> results(handles.size());
            std::vector<std::exception_ptr> errors(handles.size());
            std::size_t taken = 0;
            auto cancel_after = [&](std::size_t i) {
              for (std::size_t j = i + 1; j < handles.size(); ++j) self.cancel(handles[j]);
            };
            if (!handles.empty()) {
              run_released(
                  [&](run_context& ctx) {
                    self.await(handles.back(), &ctx);
                    for (std::size_t i = 0; i < handles.size(); ++i) {
                      taken = i + 1;
                      try {
                        results[i] = self.wait(handles[i], &ctx);
                      } catch (const http_error&) {
                        errors[i] = std::current_exception();
                        if (raise_on_error) {
                          cancel_after(i);
                          return;
                        }
                      } catch (...) {
                        cancel_after(i);
                        throw;
                      }
                    }
                  },
                  py::none(), py::none());
            }
            if (raise_on_error && taken > 0 && errors[taken - 1]) std::rethrow_exception(errors[taken - 1]);
            py::list out(taken);
            for (std::size_t i = 0; i < taken; ++i) {
              py::object item;
              if (errors[i]) {
                try {
                  std::rethrow_exception(errors[i]);
                } catch (const http_error& e) {
                  item = error_object(e);
                }
              } else {
                item = to_dict(self, std::move(results[i]));
              }
              PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), item.release().ptr());
            }
            return out;
          },
          py::arg("requests"), py::arg("raise_on_error") = true,
          "Many requests in flight at once (within the limits); results in order.")
      .def("stats", [](client& self) { return fields_dict(self.stats()); })
      .def("scrub", &client::scrub, py::arg("text"));

  m.def(
      "paginate",
      [](client& c, std::string url, std::string paging, std::string token_param, std::string next_token,
         std::string is_last, std::string offset_param, std::string limit_param, std::int64_t page_size,
         std::string total, std::string items, std::string id_field, py::object headers, std::string cursor) {
        page_spec spec;
        if (paging == "token")
          spec.paging = page_spec::kind::token;
        else if (paging == "link")
          spec.paging = page_spec::kind::link;
        else if (paging == "offset")
          spec.paging = page_spec::kind::offset;
        else
          throw config_error("paging must be 'token', 'link' or 'offset', got '" + paging + "'");
        spec.token_param = std::move(token_param);
        spec.next_token = std::move(next_token);
        spec.is_last = std::move(is_last);
        spec.offset_param = std::move(offset_param);
        spec.limit_param = std::move(limit_param);
        spec.page_size = page_size;
        spec.total = std::move(total);
        spec.items = std::move(items);
        spec.id_field = std::move(id_field);
        request first{"GET", url, to_headers(headers), ""};
        struct collected {
          std::string body, cursor, next;
          std::int64_t items;
          std::vector<std::string> ids;
        };
        std::vector<collected> pages;
        pagination_guard guard(scrub_url(url));
        run_released(
            [&](run_context& ctx) {
              paginate(
                  c, first, spec, cursor, guard,
                  [&](const page& p) {
                    pages.push_back({p.resp.body, p.cursor, p.next_cursor, p.items, p.ids});
                  },
                  &ctx);
            },
            py::none(), py::none());
        py::list out;
        for (auto& p : pages) {
          py::dict d;
          d["body"] = py::bytes(p.body);
          d["items"] = p.items;
          d["ids"] = p.ids;
          d["cursor"] = p.cursor;
          d["next_cursor"] = p.next;
          out.append(d);
        }
        return out;
      },
      py::arg("client"), py::arg("url"), py::kw_only(), py::arg("paging") = "token",
      py::arg("token_param") = "cursor", py::arg("next_token") = "/response_metadata/next_cursor",
      py::arg("is_last") = "", py::arg("offset_param") = "startAt", py::arg("limit_param") = "maxResults",
      py::arg("page_size") = 100, py::arg("total") = "", py::arg("items") = "", py::arg("id_field") = "id",
      py::arg("headers") = py::none(), py::arg("cursor") = "",
      "Fetch every page from `cursor` on, behind the pagination guard; returns the pages in order.");

  m.def(
      "parse_retry_after",
      [](const std::string& v) { return parse_retry_after(v, std::chrono::system_clock::now()); },
      py::arg("value"));
  m.def("parse_go_duration", &parse_go_duration, py::arg("value"));
  m.def("link_next", &link_next, py::arg("header"));
  m.def("scrub_url", static_cast<std::string (*)(std::string_view)>(&scrub_url), py::arg("url"));
  m.def("scrub_text", &scrub_text, py::arg("text"), py::arg("secrets"));
}

}  // namespace backfill::python
