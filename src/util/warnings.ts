// The AWS SDK warns on every start that its future releases will need Node 22. The harness
// supports Node 20; the line is noise in every run log. Other warnings still show.
const emit = process.emitWarning;
process.emitWarning = ((w: string | Error, ...rest: unknown[]) => {
  const text = typeof w === 'string' ? w : w?.message ?? '';
  const opt = rest[0] as string | { type?: string } | undefined;
  const type = typeof opt === 'string' ? opt : opt?.type;
  if (type === 'NodeVersionSupportWarning' || /will require node >=22/.test(text)) return;
  return (emit as (...a: unknown[]) => void).call(process, w, ...rest);
}) as typeof process.emitWarning;
