/* A real initiator's writes across a power cut (tests/iscsi_cut.test.ts): libiscsi
 * writes N commands of 8 blocks to distinct LBAs of one LUN and prints "ACK i" for each
 * the target acknowledged; when the connection drops (the controller lost power) it
 * logs in again and goes on, and a command whose answer it never got is not counted.
 * Then it reads every acknowledged block back and prints "VERIFY ok=K bad=B".
 * usage: iscsi_writer URL N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define BLOCK 512
#define BLOCKS_PER_WRITE 8
#define RECONNECT_TRIES 600   /* 50 ms apart: 30 s */
#define RETRIES_MAX 3000      /* unit attention, not ready, busy: 20 ms apart */

static struct iscsi_context *ctx;
static struct iscsi_url *url;
static const char *url_text;

static void fill(uint8_t *b, uint32_t lba, uint32_t gen) {
  for (int k = 0; k < BLOCKS_PER_WRITE; k++) {
    uint8_t *p = b + k * BLOCK;
    uint32_t l = lba + k;
    for (int j = 0; j < BLOCK; j++) p[j] = (uint8_t)(l * 31 + j * 7 + gen);
    memcpy(p, &l, 4);
    memcpy(p + 4, &gen, 4);
  }
}

static int connect_once(void) {
  if (ctx) { iscsi_destroy_context(ctx); ctx = NULL; }
  ctx = iscsi_create_context("iqn.2026-11.dev.holdup:writer");
  if (!ctx) return -1;
  url = iscsi_parse_full_url(ctx, url_text);
  if (!url) return -1;
  iscsi_set_targetname(ctx, url->target);
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
  iscsi_set_noautoreconnect(ctx, 1);
  return iscsi_full_connect_sync(ctx, url->portal, url->lun);
}

static void reconnect(void) {
  for (int i = 0; i < RECONNECT_TRIES; i++) {
    if (connect_once() == 0) { fprintf(stderr, "writer: logged in\n"); return; }
    usleep(50000);
  }
  fprintf(stderr, "writer: cannot log in again\n");
  exit(2);
}

/* 0: acknowledged; 1: its outcome is unknown (the connection went). */
static int write_one(uint32_t lba, uint8_t *buf) {
  for (int tries = 0; tries < RETRIES_MAX; tries++) {
    struct scsi_task *t = iscsi_write10_sync(ctx, url->lun, lba, buf, BLOCK * BLOCKS_PER_WRITE, BLOCK, 0, 0, 0, 0, 0);
    if (!t) { reconnect(); return 1; }
    int status = t->status;
    int key = t->sense.key;
    scsi_free_scsi_task(t);
    if (status == SCSI_STATUS_GOOD) return 0;
    if (status == SCSI_STATUS_CHECK_CONDITION && key != SCSI_SENSE_UNIT_ATTENTION && key != SCSI_SENSE_NOT_READY) {
      fprintf(stderr, "writer: write at %u failed, sense key %d\n", lba, key);
      exit(3);
    }
    usleep(20000); /* unit attention, not ready, busy: again */
  }
  exit(4);
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: iscsi_writer URL N\n"); return 2; }
  url_text = argv[1];
  int n = atoi(argv[2]);
  uint8_t *acked = calloc(n, 1);
  uint8_t buf[BLOCK * BLOCKS_PER_WRITE];
  setvbuf(stdout, NULL, _IOLBF, 0);
  reconnect();
  for (int i = 0; i < n; i++) {
    fill(buf, (uint32_t)i * BLOCKS_PER_WRITE, (uint32_t)i);
    if (write_one((uint32_t)i * BLOCKS_PER_WRITE, buf) == 0) { acked[i] = 1; printf("ACK %d\n", i); }
    else printf("LOST %d\n", i);
  }
  int ok = 0, bad = 0;
  uint8_t want[BLOCK * BLOCKS_PER_WRITE];
  for (int i = 0; i < n; i++) {
    if (!acked[i]) continue;
    fill(want, (uint32_t)i * BLOCKS_PER_WRITE, (uint32_t)i);
    struct scsi_task *t = NULL;
    for (int tries = 0; tries < RETRIES_MAX; tries++) {
      t = iscsi_read10_sync(ctx, url->lun, (uint32_t)i * BLOCKS_PER_WRITE, BLOCK * BLOCKS_PER_WRITE, BLOCK, 0, 0, 0, 0, 0);
      if (!t) { reconnect(); continue; }
      if (t->status == SCSI_STATUS_GOOD) break;
      scsi_free_scsi_task(t); t = NULL;
      usleep(20000);
    }
    if (t && t->datain.size == (int)sizeof want && memcmp(t->datain.data, want, sizeof want) == 0) ok++;
    else { bad++; printf("BAD %d\n", i); }
    if (t) scsi_free_scsi_task(t);
  }
  printf("VERIFY ok=%d bad=%d\n", ok, bad);
  iscsi_logout_sync(ctx);
  iscsi_destroy_context(ctx);
  return bad ? 1 : 0;
}
