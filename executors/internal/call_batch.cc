#include "executors/internal/call_batch.h"

#include <istream>
#include <ostream>
#include <utility>

#include "executors/internal/pool_support.h"
#include "executors/transport/byte_stream.h"
#include "executors/transport/code_address.h"
#include "executors/transport/remote_exception.h"
#include "futures/errors.h"
#include "futures/internal/deadline.h"

namespace cf::internal {

void BatchEntry::Run(std::uintptr_t, InputArchive& in, std::string* out) {
  std::uint64_t n = 0;
  in(n);
  StringSink sink(out);
  std::ostream stream(&sink);
  OutputArchive archive(stream);
  archive(n);
  std::string call, result;
  for (std::uint64_t i = 0; i < n; ++i) {
    in(call);
    result.clear();
    bool ok = false;
    RemoteException failure;
    {
      ScopedThrowCapture capture;
      try {
        RunEncodedCall(call, &result);
        ok = true;
      } catch (const UnknownEntryError&) {
        throw;  // the worker loop refuses the whole stream
      } catch (...) {
        failure = CaptureCurrentException();
      }
    }
    archive(ok);
    if (ok) {
      archive(result);
    } else {
      archive(failure);
    }
  }
}

CallBatch::CallBatch(std::vector<std::shared_ptr<WorkItem>> calls)
    : calls_(std::move(calls)) {
  AddDoneCallback([](FutureStateBase& self) {
    static_cast<CallBatch&>(self).PassOnFailure();
  });
}

void CallBatch::Run(absl::FunctionRef<void()> computed) {
  if (!SetRunningOrNotifyCancel()) {
    computed();
    return;
  }
  for (auto& call : calls_) call->Run([] {});
  computed();
  SetResult();
}

void CallBatch::Drop() {
  for (auto& call : calls_) call->Drop();
}

void CallBatch::EncodeRemote(std::string* out) {
  std::vector<std::string> encoded;
  std::vector<std::shared_ptr<WorkItem>> sent;
  encoded.reserve(calls_.size());
  sent.reserve(calls_.size());
  for (auto& call : calls_) {
    std::string bytes;
    try {
      call->EncodeRemote(&bytes);
    } catch (const NotRemotable&) {
      throw;
    } catch (...) {
      FailCall(*call, std::current_exception());  // that call alone
      continue;
    }
    encoded.push_back(std::move(bytes));
    sent.push_back(std::move(call));
  }
  calls_ = std::move(sent);
  StringSink sink(out);
  std::ostream stream(&sink);
  OutputArchive archive(stream);
  static_cast<void>(BatchEntry::registered);
  archive(EntryAddress<BatchEntry>(), CodeAddress{},
          static_cast<std::uint64_t>(encoded.size()));
  for (const std::string& bytes : encoded) archive(bytes);
}

void CallBatch::SetRemoteResult(std::string_view bytes) {
  ViewSource source(bytes);
  std::istream stream(&source);
  InputArchive archive(stream);
  std::uint64_t n = 0;
  archive(n);
  if (n != calls_.size()) {
    throw RemoteCallError("a batch's answer has the wrong number of results");
  }
  std::string result;
  for (auto& call : calls_) {
    bool ok = false;
    archive(ok);
    if (ok) {
      archive(result);
      try {
        call->SetRemoteResult(result);
      } catch (const InvalidStateError&) {
      } catch (...) {
        FailCall(*call, std::current_exception());  // did not deserialize
      }
    } else {
      RemoteException failure;
      archive(failure);
      try {
        call->future().SetException(RebuildException(failure));
      } catch (const InvalidStateError&) {
      }
    }
  }
  SetResult();
}

void CallBatch::PassOnFailure() { PassOnGroupFailure(*this, calls_); }

}  // namespace cf::internal
