/**
 * nfnetlink framing shared by the nftables byte paths (kernel/nft-elements.ts,
 * kernel/nft-port-chain.ts): the nfgenmsg header every message carries, the message type of
 * an nf_tables request, and the begin/end markers that make a list of requests ONE
 * transaction (net/netfilter/nfnetlink.c nfnetlink_rcv_batch). Pure.
 *
 * Numbers from the kernel's UAPI headers: linux/netfilter/nfnetlink.h (NFNL_SUBSYS_NFTABLES,
 * NFNL_MSG_BATCH_BEGIN/END), linux/netfilter.h (NFPROTO_*).
 */
import { NLM_F_REQUEST, encodeMessage } from './netlink/message.js';
import type { BatchItem } from './netlink/socket.js';

export const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;

/** The nftables families Switchyard writes to (NFPROTO_INET, NFPROTO_NETDEV, NFPROTO_BRIDGE). */
export const NFPROTO = { inet: 1, netdev: 5, bridge: 7 } as const;
export type NftFamily = keyof typeof NFPROTO;

/** struct nfgenmsg: family, NFNETLINK_V0, resource id (big endian). */
export function nfgenmsg(family: number, resId = 0): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(family, 0);
  b.writeUInt8(0, 1); // NFNETLINK_V0
  b.writeUInt16BE(resId, 2);
  return b;
}

/** The nlmsg_type of an nf_tables message (NFT_MSG_*). */
export const nftType = (msg: number): number => (NFNL_SUBSYS_NFTABLES << 8) | msg;

/** `items` between the batch markers: the kernel applies all of them or none. */
export function nftBatch(items: BatchItem[]): BatchItem[] {
  const marker = (type: number, what: string): BatchItem => ({
    msg: encodeMessage({ type, flags: NLM_F_REQUEST }, [nfgenmsg(0, NFNL_SUBSYS_NFTABLES)]),
    what,
    unacked: true,
  });
  return [marker(NFNL_MSG_BATCH_BEGIN, 'batch begin'), ...items, marker(NFNL_MSG_BATCH_END, 'batch end')];
}
