/**
 * Proto enums ↔ the lowercase slugs stored in the database and written in
 * `sluice.yaml` (`PROVIDER_TYPE_AZURE_OPENAI` ↔ `azure_openai`). Derived from
 * the generated enum descriptors, so a new enum value needs no code here.
 */
import type { DescEnum } from '@bufbuild/protobuf';

function prefixOf(desc: DescEnum): string {
  // `sharedPrefix` is the lowercase prefix with its trailing underscore, e.g. `provider_type_`.
  return (desc.sharedPrefix ?? '').toUpperCase();
}

/** The slug of an enum number, e.g. `round_robin`; '' for UNSPECIFIED or unknown numbers. */
export function enumSlug(desc: DescEnum, value: number): string {
  if (value === 0) return '';
  const v = desc.value[value];
  return v ? v.name.slice(prefixOf(desc).length).toLowerCase() : '';
}

/** The enum number of a slug (case-insensitive), or undefined when it is not one. */
export function enumFromSlug(desc: DescEnum, slug: string): number | undefined {
  const name = prefixOf(desc) + slug.toUpperCase();
  const v = desc.values.find((x) => x.name === name && x.number !== 0);
  return v?.number;
}

/** Every valid slug of an enum, for error messages. */
export function enumSlugs(desc: DescEnum): string[] {
  return desc.values.filter((v) => v.number !== 0).map((v) => v.name.slice(prefixOf(desc).length).toLowerCase());
}
