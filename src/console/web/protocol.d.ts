// The shape of /console/protocol.js, which console.route.ts generates from src/protocol.ts.
export declare const CloseCode: Readonly<{
  Normal: 1000;
  GoingAway: 1001;
  Abnormal: 1006;
  TryAgainLater: 1013;
  SlowConsumer: 4008;
  Unauthorized: 4401;
  Forbidden: 4403;
  BadRequest: 4400;
  SubprotocolNotAcceptable: 4406;
  TooManyRequests: 4429;
  Terminated: 4499;
}>;
export declare const FATAL_CLOSE_CODES: readonly number[];
export declare const EVENT_ID_PATTERN: RegExp;
/** Orders two event ids exactly (decimal, without leading zeros). */
export declare function compareIds(a: string, b: string): number;
