/**
 * The contract between the service layer and its two transports. A domain
 * service implements every method of a generated Protobuf service as
 * `(request message, call context) → response`; the Connect and tRPC adapters
 * are generic over it, so both transports run the same code.
 */
import type { DescMethodUnary, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { CallContext } from './context.js';

/** A transport-independent implementation of the service `S`. */
export type DomainService<S extends DescService> = {
  [K in keyof S['method']]: S['method'][K] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageShape<I>, call: CallContext) => Promise<MessageInitShape<O>>
    : never;
};

/** A service descriptor with its implementation, as the transports mount them. */
export interface ServiceBinding<S extends DescService = DescService> {
  descriptor: S;
  implementation: DomainService<S>;
}

/** Pairs a descriptor with its implementation, checking the types. */
export function bind<S extends DescService>(descriptor: S, implementation: DomainService<S>): ServiceBinding {
  return { descriptor, implementation } as unknown as ServiceBinding;
}
