import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { JSONObjectResolver } from 'graphql-scalars';

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parse(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_WITH_ZONE.test(value)) {
    throw new GraphQLError('DateTime must be an ISO 8601 date-time with a zone, such as 2026-11-23T06:00:00.000Z.');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime is not a valid date.');
  return date;
}

/** ISO 8601 with zone, named `DateTime` as the contract says (type-graphql's own is `DateTimeISO`). */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'A date-time in ISO 8601 with a zone, for example 2026-11-23T06:00:00.000Z.',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(value as string | number);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date.');
    return date.toISOString();
  },
  parseValue: parse,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string.');
    return parse(ast.value);
  },
});

export const JSONObjectScalar = JSONObjectResolver;
