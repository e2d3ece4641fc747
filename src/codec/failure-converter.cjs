// Loaded by path (DataConverter.failureConverterPath) by the worker, its workflow sandbox and every
// client, hence plain CommonJS: `require()` must load it under tsx, vitest and the webpack bundle.
// encodeCommonAttributes moves a failure's message and stack trace into an encoded payload, so
// the PayloadCodec encrypts them too (the server then shows "Encoded failure").
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
