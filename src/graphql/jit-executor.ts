import type { ApolloServerOptionsWithGateway } from '@apollo/server';
import {
  execute,
  getVariableValues,
  Kind,
  locatedError,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';

type Gateway = ApolloServerOptionsWithGateway<never>['gateway'];
type Executor = NonNullable<Awaited<ReturnType<Gateway['load']>>['executor']>;

/**
 * The root fields whose queries run compiled by graphql-jit rather than walked by graphql-js:
 * a keyUsage of 100 keys × 24 buckets completes some 17,000 fields, and graphql-js's generic
 * walk (arguments, abstract-type checks, a promise check per field, null-prototype result
 * objects that JSON.stringify then walks slowly) was most of its CPU.
 */
const COMPILED_ROOT_FIELDS = new Set(['keyUsage', '__typename']);

/** How many distinct documents keep their compiled form (the console and clients send a handful). */
const COMPILED_KEPT = 256;

/**
 * Apollo's one supported way to replace execution is a gateway: this one serves the schema as
 * given and executes every operation with graphql-js's `execute`, as Apollo itself would, except
 * queries whose root fields are all in COMPILED_ROOT_FIELDS. Those run compiled (once per
 * document and operation), after graphql-js's own variable coercion has accepted the variables
 * (so refusals read as before), and their errors are rebuilt with graphql-js's `locatedError`
 * on the document's own nodes: what Apollo formats is then the same error graphql-js raises.
 */
export function jitGateway(schema: GraphQLSchema): Gateway {
  const compiled = new LRUCache<DocumentNode, Map<string | null, CompiledQuery | null>>({ max: COMPILED_KEPT });

  const compiledFor = (document: DocumentNode, operation: OperationDefinitionNode, operationName: string | null): CompiledQuery | null => {
    let byName = compiled.get(document);
    if (!byName) compiled.set(document, (byName = new Map()));
    if (!byName.has(operationName)) {
      const eligible = operation.operation === 'query' && rootFieldsCompilable(operation.selectionSet);
      const query = eligible ? compileQuery(schema, document, operationName ?? undefined) : null;
      byName.set(operationName, query && isCompiledQuery(query) ? query : null);
    }
    return byName.get(operationName)!;
  };

  const executor: Executor = async ({ document, operation, operationName, request, context }) => {
    const variables = request.variables ?? {};
    const query = operation ? compiledFor(document, operation, operationName ?? null) : null;
    const coerced = query && operation ? getVariableValues(schema, operation.variableDefinitions ?? [], variables) : null;
    if (!query || !operation || !coerced || coerced.errors) {
      return execute({ schema, document, contextValue: context, variableValues: variables, operationName });
    }
    const result = (await query.query(undefined, context, variables)) as ExecutionResult;
    if (!result.errors) return result;
    return { ...result, errors: result.errors.map((error) => relocated(document, operation, error)) };
  };

  let loaded: ((schemaContext: { apiSchema: GraphQLSchema; coreSupergraphSdl: string }) => void) | null = null;
  return {
    onSchemaLoadOrUpdate(callback) {
      loaded = callback;
      return () => (loaded = null);
    },
    async load() {
      loaded?.({ apiSchema: schema, coreSupergraphSdl: '' });
      return { executor };
    },
    async stop() {
      compiled.clear();
    },
  };
}

/** A selection of only plain root fields named in COMPILED_ROOT_FIELDS (no fragments, no directives). */
function rootFieldsCompilable(set: SelectionSetNode): boolean {
  return set.selections.every(
    (selection) => selection.kind === Kind.FIELD && COMPILED_ROOT_FIELDS.has(selection.name.value) && (selection.directives?.length ?? 0) === 0,
  );
}

/** graphql-jit's error as graphql-js raises it: located on the field nodes at its path, its original error kept. */
function relocated(document: DocumentNode, operation: OperationDefinitionNode, error: GraphQLError): GraphQLError {
  const path = error.path ?? [];
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  let nodes: FieldNode[] = [];
  let sets: SelectionSetNode[] = [operation.selectionSet];
  for (const key of path) {
    if (typeof key === 'number') continue;
    nodes = sets.flatMap((set) => fieldsNamed(set, key, fragments, new Set()));
    sets = nodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
  }
  return locatedError(error.originalError ?? new Error(error.message), nodes.length > 0 ? nodes : undefined, path);
}

/** The fields of a selection set (through its fragments) answering under `key`. */
function fieldsNamed(set: SelectionSetNode, key: string, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>): FieldNode[] {
  return set.selections.flatMap((selection) => {
    if (selection.kind === Kind.FIELD) return (selection.alias ?? selection.name).value === key ? [selection] : [];
    if (selection.kind === Kind.INLINE_FRAGMENT) return fieldsNamed(selection.selectionSet, key, fragments, seen);
    const fragment = fragments.get(selection.name.value);
    if (!fragment || seen.has(fragment.name.value)) return [];
    return fieldsNamed(fragment.selectionSet, key, fragments, new Set([...seen, fragment.name.value]));
  });
}
