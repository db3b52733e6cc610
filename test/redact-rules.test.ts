// Rule-by-rule pins of src/redact.ts that the property tests in redact.test.ts leave loose: the
// exact extent of each mask, the boundaries of the UTF-8 and base64 arithmetic, and the few
// key/tag/token rules whose edge cases random text rarely reaches.
import { redact, redactValues } from '../src/redact';

const MASK = '[REDACTED]';
// Every case masks a value no other case in this file uses: redactValues caches one pattern per
// value, so a case reusing a value would not build (nor, under mutation testing, cover) the rules
// that made the pattern, and a rule only it pins would go untested.

const b64 = (text: string): string => Buffer.from(text).toString('base64').replace(/=+$/, '');

/** base64 of `prefix + secret + suffix` with exactly the characters only the secret's bytes decide masked. */
function maskedInBase64(prefix: string, secret: string, suffix: string): string {
  const encoded = b64(`${prefix}${secret}${suffix}`);
  const start = Buffer.byteLength(prefix);
  const end = start + Buffer.byteLength(secret);
  return `${encoded.slice(0, Math.ceil((start * 8) / 6))}${MASK}${encoded.slice(Math.floor((end * 8) / 6))}`;
}

describe('redact: token, tag and pwd rules at their edges', () => {
  test('a 40-character mixed-case run without a digit is not an AWS secret key', () => {
    const noDigit = 'AbcdefghijKlmnopqrstUvwxyzabcdEfghijklmn';
    expect(noDigit).toHaveLength(40);
    expect(redact(`key ${noDigit} end`)).toBe(`key ${noDigit} end`);
    const withDigit = `${noDigit.slice(0, 39)}7`;
    expect(redact(`key ${withDigit} end`)).toBe(`key ${MASK} end`);
  });

  test('a secret-named element without attributes keeps its tag name exactly and loses only its text', () => {
    expect(redact('<password>hunter2</password>')).toBe(`<password>${MASK}</password>`);
    expect(redact('<db_pass>hunter2</db_pass>')).toBe(`<db_pass>${MASK}</db_pass>`);
  });

  test.each([
    ['DB_PWD=/secret/path', `DB_PWD=${MASK}`],
    ['PWD_PASS=/secret/path', `PWD_PASS=${MASK}`],
    ['PWD=/home/user', 'PWD=/home/user'],
    ['pwd=hunter2', `pwd=${MASK}`],
  ])('only a key that is exactly PWD keeps a value starting with "/": %s', (text, expected) => {
    expect(redact(text)).toBe(expected);
  });
});

describe('redactValues: which values are masked at all', () => {
  test('a value of exactly four characters is masked; three characters are not', () => {
    expect(redactValues('x abcd y', ['abcd'])).toBe(`x ${MASK} y`);
    expect(redactValues('x abc y', ['abc'])).toBe('x abc y');
  });

  test('the same values keep being masked after more than 64 different values were asked for', () => {
    const values = Array.from({ length: 70 }, (_, i) => `value-${i}-xyz`);
    for (const value of values) expect(redactValues(`a ${value} b`, [value])).toBe(`a ${MASK} b`);
    for (const value of values) expect(redactValues(`a ${value} b`, [value])).toBe(`a ${MASK} b`);
  });
});

describe('redactValues: characters in escaped forms', () => {
  test.each([
    ['a 2-byte character', 'caf\u00e9-secret', 'caf%C3%A9-secret'],
    ['a 2-byte character, double percent-encoded', 'caf\u00e9-secrets', 'caf%25C3%25A9-secrets'],
    ['U+0080, the first 2-byte character', 'ab\u0080cd', 'ab%C2%80cd'],
    ['U+07FF, the last 2-byte character', 'ab\u07ffcd', 'ab%DF%BFcd'],
    ['U+0800, the first 3-byte character', 'ab\u0800cd', 'ab%E0%A0%80cd'],
    ['a 3-byte character', 'price\u20acsecret', 'price%E2%82%ACsecret'],
    ['U+FFFF, the last 3-byte character', 'ab\uffffcd', 'ab%EF%BF%BFcd'],
    ['U+10000, the first 4-byte character', 'ab\u{10000}cd', 'ab%F0%90%80%80cd'],
    ['a 4-byte emoji', 'key\u{1f600}secret', 'key%F0%9F%98%80secret'],
    ['a control character below 0x10', 'ab\u0001cd', 'ab%01cd'],
    ['a slash as \\x2f', 'ab/cd', 'ab\\x2fcd'],
    ['a slash as \\x2F', 'ab/ce', 'ab\\x2Fce'],
    ['a control character as \\x01', 'ab\u0001ce', 'ab\\x01ce'],
  ])('a value with %s is masked when echoed percent- or \\x-encoded', (_name, secret, echoed) => {
    expect(Buffer.from(decodeURIComponent(echoed.replace(/%25/g, '%')), 'utf8').toString()).toBe(
      echoed.includes('\\x') ? echoed : secret,
    );
    expect(redactValues(`echo ${echoed} end`, [secret])).toBe(`echo ${MASK} end`);
  });

  test.each([
    ['\\x escapes spell ASCII only: \\xe9 is not é', 'caf\u00e9-token', 'caf\\xe9-token'],
    ['\\x80 is not U+0080', 'ab\u0080ef', 'ab\\x80ef'],
    ['a plus is not a letter', 'abce', 'a+ce'],
    ['"\\u0NaN" is no character', 'abcf', 'a\\u0NaNcf'],
    ['a lone 2-byte lead byte is not the character', 'caf\u00e9-word', 'caf%C3-word'],
  ])('near misses stay readable: %s', (_name, secret, text) => {
    expect(redactValues(`echo ${text} end`, [secret])).toBe(`echo ${text} end`);
  });
});

describe('redactValues: whitespace in a value', () => {
  test.each([
    ['a leading space is part of the value', 'x abcd', [' abcd'], `x${MASK}`],
    ['a space matches a run of mixed whitespace', 'ab \t\n cd', ['ab cd'], MASK],
    ['a space matches a plus', 'ab+ce', ['ab ce'], MASK],
    ['a space matches %20', 'ab%20cf', ['ab cf'], MASK],
    ['two spaces match a single space', 'ab cd', ['ab  cd'], MASK],
    ['a tab matches a newline escape', 'ab\\ncd', ['ab\tcd'], MASK],
  ])('%s', (_name, text, secrets, expected) => {
    expect(redactValues(text, secrets)).toBe(expected);
  });
});

describe('redactValues: base64', () => {
  test('a value whose bytes are a multiple of three has no padding: trailing "=" and "A" stay', () => {
    expect(b64('abcdef')).toBe('YWJjZGVm');
    expect(redactValues('YWJjZGVmAAAA', ['abcdef'])).toBe(`${MASK}AAAA`);
    expect(redactValues('YWJjZGVm==', ['abcdef'])).toBe(`${MASK}==`);
  });

  test('a value with one or two bytes over a multiple of three takes at most two or one "="', () => {
    expect(b64('abcdefg')).toBe('YWJjZGVmZw');
    expect(redactValues('YWJjZGVmZw====', ['abcdefg'])).toBe(`${MASK}==`);
    expect(b64('abcdefgh')).toBe('YWJjZGVmZ2g');
    expect(redactValues('YWJjZGVmZ2g===', ['abcdefgh'])).toBe(`${MASK}==`);
  });

  test.each([
    ['standard', (s: string) => Buffer.from(s).toString('base64')],
    ['url-safe', (s: string) => Buffer.from(s).toString('base64url')],
    ['with \\/ for slashes', (s: string) => Buffer.from(s).toString('base64').replace(/\//g, '\\/')],
    ['with %2F for slashes', (s: string) => Buffer.from(s).toString('base64').replace(/\//g, '%2F')],
  ])('a value whose base64 has "/" and "+" is masked in %s base64', (name, encode) => {
    const secret = `a???bcdefgh>>>${name}`;
    expect(Buffer.from(secret).toString('base64')).toMatch(/\/.*\+/);
    expect(redactValues(`body ${encode(secret)} end`, [secret])).toBe(`body ${MASK} end`);
  });

  test.each([0, 1, 2])(
    'a value at byte offset %i of a base64-encoded text loses exactly its own characters',
    (offset) => {
      const prefix = 'xyz'.slice(0, offset);
      for (const base of ['abcdefghij', 'abcdefghijk', 'abcdefghijkl', 'p\u00e9-\u20ac/_+ \u{1f600}x']) {
        const secret = `${base}${offset}`;
        const text = b64(`${prefix}${secret}QRS!`);
        expect({ secret, out: redactValues(text, [secret]) }).toEqual({
          secret,
          out: maskedInBase64(prefix, secret, 'QRS!'),
        });
      }
    },
  );

  test('a fragment of exactly eight base64 characters is masked', () => {
    // Seven bytes one byte into the text leave exactly eight characters that only they decide.
    const encoded = b64('xtuvwxyz!!');
    expect(encoded.slice(Math.ceil(8 / 6), Math.floor(64 / 6))).toHaveLength(8);
    expect(redactValues(encoded, ['tuvwxyz'])).toBe(maskedInBase64('x', 'tuvwxyz', '!!'));
  });

  test('fragments shorter than eight base64 characters are not masked', () => {
    // "abcde" leaves six characters of its own at offset 0: too short to tell from other text.
    expect(b64('abcdeQQ')).toBe('YWJjZGVRUQ');
    expect(redactValues('YWJjZGVRUQ', ['abcde'])).toBe('YWJjZGVRUQ');
  });

  test('a JSON-escaped value inside base64 is masked without its quotes', () => {
    const secret = 'a"bcdefgh"ijk';
    const inner = JSON.stringify(secret).slice(1, -1);
    expect(redactValues(b64(`x: ${inner} end`), [secret])).toBe(maskedInBase64('x: ', inner, ' end'));
    const body = JSON.stringify({ k: secret });
    expect(redactValues(b64(body), [secret])).toBe(maskedInBase64('{"k":"', inner, '"}'));
  });

  test('a value JSON-escaped with \\/ for slashes inside base64 is masked', () => {
    const secret = 'a/bcdefgh/ijk';
    const inner = secret.replace(/\//g, '\\/');
    expect(redactValues(b64(`{"k":"${inner}"}`), [secret])).toBe(maskedInBase64('{"k":"', inner, '"}'));
  });

  test('a URL-encoded value inside base64 is masked', () => {
    const secret = 'a/bcdefgh ijk';
    const inner = encodeURIComponent(secret);
    expect(redactValues(b64(`q=${inner}&z=1`), [secret])).toBe(maskedInBase64('q=', inner, '&z=1'));
  });
});

test('a value with a 4-byte character is masked when echoed with \\u surrogate escapes, as json.dumps writes it', () => {
  expect(redactValues('echo key\\ud83d\\ude00token end', ['key😀token'])).toBe(`echo ${MASK} end`);
});
