// Scenario loading: text format (.textproto, .pbtxt, .txtpb, .txt) or JSON (.json) through Protobuf's own parsers,
// then validation of every value once, with messages that name the file, the line (text format), the field, the
// value and the rule (clustersim::InputError).
//
// ResolveScenario fills defaults and catalog values (accelerator, model preset) so that everything downstream reads
// plain numbers; the resolved scenario is what results embed.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <google/protobuf/message.h>

#include "scenario.pb.h"

namespace clustersim::sim {

// Where each field was written in a text-format file: "cluster.scale_out.nic_bandwidth_gbps" -> line (1-based).
using FieldLines = std::map<std::string, int>;

struct LoadedScenario {
  v1::Scenario scenario;
  std::string file;   // as given by the user; used in messages
  FieldLines lines;   // empty for JSON
};

// Reads and parses a file (no validation). Throws InputError for a missing file, one that is not a regular file or is
// over the size limit (common/input_file.h), text that is not UTF-8, a syntax error or an unknown field.
LoadedScenario LoadScenarioFile(const std::string& path);
// Parses text of the given format ("textproto" or "json"); `name` is used in messages.
LoadedScenario ParseScenario(const std::string& text, const std::string& format, const std::string& name);

// Parses text-format `text` into `msg` (unknown fields rejected) and returns the line of every field written, keyed
// by dotted path. Throws InputError "name:line:column: ..." on a syntax error; when not even the first field could be
// read (the file is not this format), the message shows nothing of the content.
FieldLines ParseTextMessage(const std::string& text, google::protobuf::Message* msg, const std::string& name);

// Parses JSON `text` into `msg` (unknown fields rejected). Throws InputError naming `name`: text that is not a JSON
// object is refused without showing its content; otherwise the first line of the parser's message is shown.
void ParseJsonMessage(const std::string& text, google::protobuf::Message* msg, const std::string& name);

// Validates and fills defaults. Throws InputError naming the first broken rule.
v1::Scenario ResolveScenario(const LoadedScenario& loaded);

// Line of a field path in the loaded file, 0 if unknown.
int LineOf(const LoadedScenario& loaded, const std::string& field_path);

}  // namespace clustersim::sim
