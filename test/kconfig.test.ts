// Unit tests of the one Kconfig parser (vm/kconfig.ts) and of the config
// pre-check built on it (vm/kconfig-check.ts). Fragment survival is tested
// in kernel-build.test.ts.
import t from 'tap';
import { BOOT_NEEDS, checkConfig, suiteConfigNeeds } from '../vm/kconfig-check.js';
import { suiteSpecs } from '../suites/index.js';
import { kconfigValues, parseKconfig } from '../vm/kconfig.js';

t.test('parseKconfig: set and "is not set" lines, everything else is a comment', async (t) => {
  const text = ['#', '# Automatically generated file; DO NOT EDIT.', 'CONFIG_TMPFS=y', '  CONFIG_HOSTNAME="a=b"  ', '# CONFIG_VT is not set', '#CONFIG_INPUT is not set', 'CONFIG_lower=m', 'NOT_CONFIG=y', ''].join('\n');
  t.same(parseKconfig(text), [
    { symbol: 'TMPFS', value: 'y', line: 'CONFIG_TMPFS=y' },
    { symbol: 'HOSTNAME', value: '"a=b"', line: 'CONFIG_HOSTNAME="a=b"' },
    { symbol: 'VT', value: null, line: '# CONFIG_VT is not set' },
    { symbol: 'INPUT', value: null, line: '#CONFIG_INPUT is not set' },
    { symbol: 'lower', value: 'm', line: 'CONFIG_lower=m' },
  ]);
  const v = kconfigValues('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_A=m\n');
  t.equal(v.get('A'), 'm', 'the last line of a symbol wins');
  t.equal(v.get('B'), null, '"is not set" is null');
  t.equal(v.has('C'), false, 'absent is absent');
});

t.test('checkConfig: y satisfies a need, m only where a module is enough, "is not set" never', async (t) => {
  const specs = await suiteSpecs();
  const all = [...BOOT_NEEDS, ...suiteConfigNeeds(specs)].map((n) => `CONFIG_${n.option}=y`).join('\n');
  const none = checkConfig(all, 'x', specs);
  t.same([none.fatal, none.suiteLevel], [[], []], 'every need met with =y');
  const text = all
    .replace('CONFIG_TMPFS=y', '# CONFIG_TMPFS is not set')
    .replace('CONFIG_BLK_DEV_LOOP=y', 'CONFIG_BLK_DEV_LOOP=m')
    .replace('CONFIG_IMA=y', 'CONFIG_IMA=m');
  const r = checkConfig(text, 'x', specs);
  t.same(r.fatal.map((n) => n.option), ['TMPFS'], 'TMPFS "is not set": fatal');
  t.same(r.suiteLevel.map((n) => n.option), ['IMA'], 'IMA=m is not enough; BLK_DEV_LOOP=m is');
  t.same(r.suiteLevel[0]!.affects, ['ima'], 'named with the suite that declared it');
  t.same(checkConfig(text, 'x').suiteLevel, [], 'without suites only the boot needs count');
});

t.test('suite needs come from the suites\' own specs: one entry per option, every suite that declared it', async (t) => {
  const needs = suiteConfigNeeds([
    { id: 'a', kconfig: [{ option: 'UNIX', why: 'socket rows', moduleOk: true }, { option: 'IMA', why: 'the mask' }] },
    { id: 'b', kconfig: [{ option: 'UNIX', why: 'more socket rows' }] },
    { id: 'c' },
  ]);
  t.same(needs, [
    { option: 'UNIX', affects: ['a', 'b'], why: 'socket rows; more socket rows', moduleOk: false },
    { option: 'IMA', affects: ['a'], why: 'the mask', moduleOk: undefined },
  ]);
  const specs = await suiteSpecs();
  t.ok(specs.every((s) => s.kconfig && s.kconfig.length > 0), 'every registry suite declares its options');
  t.same(suiteConfigNeeds(specs).find((n) => n.option === 'BLK_DEV_LOOP')?.affects, ['omayexec-policy']);
});
