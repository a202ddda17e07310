/**
 * probe() for overlay encryption on this machine's own kernel, in a throwaway namespace:
 * its answer must match an independent check (iproute2 adding the same kind of ESP SA:
 * `ip xfrm state add … aead 'rfc4106(gcm(aes))'`). On the development and CI machines the
 * kernel has the xfrm netlink interface but neither ESP nor the AEAD, so the answer is
 * "no", with a message naming the missing kernel support, and nothing is made. The "yes"
 * side runs in the VM lane (test/vm/overlay-encryption.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { OverlayCrypto, assertOverlayCryptoSupported, probeOverlayCrypto } from '../../src/drivers/overlay-crypto.js';
import { inNs, linksIn } from '../helpers/netns.js';
import { withNamespaces } from '../helpers/ns-scope.js';

test('probe() agrees with `ip xfrm`; without xfrm it says no, names the missing support, and makes nothing', async () => {
  await withNamespaces(['xfp'], ([h]) => {
    const kernelHasXfrm = inNs(h!.name, 'ip', ['xfrm', 'state', 'add', 'src', '198.51.100.1', 'dst', '198.51.100.2', 'proto', 'esp',
      'spi', '0x1000', 'mode', 'transport', 'aead', 'rfc4106(gcm(aes))', `0x${'11'.repeat(20)}`, '128'], { allowFail: true }).status === 0;
    const p = probeOverlayCrypto(h!.path);
    assert.equal(p.ok, kernelHasXfrm, `probe ${JSON.stringify(p)} vs ip xfrm ${kernelHasXfrm}`);
    if (kernelHasXfrm) return;
    assert.match(p.missing.join('; '), /ESP|xfrm/);
    assert.throws(() => assertOverlayCryptoSupported(h!.path), (e: unknown) =>
      e instanceof SwitchyardError && e.code === 'OVERLAY_ENCRYPTION_UNSUPPORTED' && e.kind === 'unavailable'
      && /-o encrypted needs kernel support this host lacks: .*(CONFIG_XFRM_USER|CONFIG_INET_ESP)/.test(e.message));
    assert.throws(() => OverlayCrypto.open(h!.path), (e: unknown) => e instanceof SwitchyardError && e.code === 'OVERLAY_ENCRYPTION_UNSUPPORTED');
    assert.deepEqual(linksIn(h!.name), ['lo']);
    assert.equal(inNs(h!.name, 'nft', ['list', 'tables']).stdout.trim(), '', 'no nftables table made');
  });
});
