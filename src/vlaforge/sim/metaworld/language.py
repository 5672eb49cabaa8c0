"""One instruction per Meta-World task (the published protocol's wording) and two held-out paraphrases each.

"train" is the task description of LeRobot's `lerobot/metaworld_mt50` dataset (the SmolVLA protocol),
so policies trained on either dataset meet the same sentence; "heldout" paraphrases are vlaforge's,
used only by the heldout-wording split to test wording a policy never saw.
"""

from __future__ import annotations

import random

from vlaforge.sim.metaworld.tasks import check_task

# task: (train instruction, (held-out paraphrase, held-out paraphrase))
INSTRUCTIONS: dict[str, tuple[str, tuple[str, str]]] = {
    "assembly-v3": ("Pick up a nut and place it onto a peg", ("fit the ring nut over the peg", "lift the nut and slide it down onto the post")),
    "basketball-v3": ("Dunk the basketball into the basket", ("put the ball through the hoop", "score by dropping the ball in the basket")),
    "bin-picking-v3": ("Grasp the puck from one bin and place it into another bin", ("move the puck over to the other bin", "take the puck out of its bin and drop it in the second one")),
    "box-close-v3": ("Grasp the cover and close the box with it", ("put the lid on the box", "pick up the lid and shut the box")),
    "button-press-topdown-v3": ("Press a button from the top", ("push the button down from above", "press down on the top of the button")),
    "button-press-topdown-wall-v3": ("Bypass a wall and press a button from the top", ("reach past the wall and push the button down", "get around the wall, then press the button from above")),
    "button-press-v3": ("Press a button", ("push the button in", "hit the button")),
    "button-press-wall-v3": ("Bypass a wall and press a button", ("go around the wall and push the button", "reach past the wall to hit the button")),
    "coffee-button-v3": ("Push a button on the coffee machine", ("press the coffee maker's button", "switch on the coffee machine with its button")),
    "coffee-pull-v3": ("Pull a mug from a coffee machine", ("take the mug out from under the coffee maker", "draw the cup away from the coffee machine")),
    "coffee-push-v3": ("Push a mug under a coffee machine", ("slide the cup beneath the coffee maker", "move the mug under the coffee machine's spout")),
    "dial-turn-v3": ("Rotate a dial 180 degrees", ("turn the dial half a turn", "spin the knob around by half a revolution")),
    "disassemble-v3": ("Pick a nut out of a peg", ("lift the nut off the peg", "take the ring nut off its post")),
    "door-close-v3": ("Close a door with a revolving joint", ("swing the door shut", "push the hinged door closed")),
    "door-lock-v3": ("Lock the door by rotating the lock clockwise", ("turn the lock clockwise to lock the door", "twist the door's lock to the locked position")),
    "door-open-v3": ("Open a door with a revolving joint", ("swing the door open", "pull the hinged door open")),
    "door-unlock-v3": ("Unlock the door by rotating the lock counter-clockwise", ("turn the lock counter-clockwise to unlock the door", "twist the door's lock open")),
    "hand-insert-v3": ("Insert the gripper into a hole", ("put the gripper down into the hole", "lower the hand into the opening")),
    "drawer-close-v3": ("Push and close a drawer", ("shut the drawer", "slide the drawer closed")),
    "drawer-open-v3": ("Open a drawer", ("pull the drawer out", "slide the drawer open")),
    "faucet-open-v3": ("Rotate the faucet counter-clockwise", ("turn the tap on", "twist the faucet handle counter-clockwise")),
    "faucet-close-v3": ("Rotate the faucet clockwise", ("turn the tap off", "twist the faucet handle clockwise")),
    "hammer-v3": ("Hammer a screw on the wall", ("use the hammer to drive the nail into the wall", "pick up the hammer and knock the peg in")),
    "handle-press-side-v3": ("Press a handle down sideways", ("push the handle down from the side", "press the side handle downwards")),
    "handle-press-v3": ("Press a handle down", ("push the handle down", "press down on the lever handle")),
    "handle-pull-side-v3": ("Pull a handle up sideways", ("lift the handle up from the side", "raise the side handle")),
    "handle-pull-v3": ("Pull a handle up", ("lift the handle up", "raise the lever handle")),
    "lever-pull-v3": ("Pull a lever down 90 degrees", ("bring the lever down a quarter turn", "rotate the lever down to horizontal")),
    "peg-insert-side-v3": ("Insert a peg sideways", ("push the peg into the hole from the side", "slide the peg sideways into its slot")),
    "pick-place-wall-v3": ("Pick a puck, bypass a wall and place the puck", ("carry the puck over the wall to the goal", "lift the puck past the wall and set it down at the target")),
    "pick-out-of-hole-v3": ("Pick up a puck from a hole", ("lift the puck out of the hole", "take the puck up from the hole in the table")),
    "reach-v3": ("Reach a goal position", ("move the gripper to the target point", "bring the hand to the goal")),
    "push-back-v3": ("Push the puck to a goal", ("slide the puck back to the target", "shove the puck to the goal spot")),
    "push-v3": ("Push the puck to a goal", ("slide the puck to the target", "nudge the puck over to the goal spot")),
    "pick-place-v3": ("Pick and place a puck to a goal", ("lift the puck and set it down at the target", "carry the puck to the goal position")),
    "plate-slide-v3": ("Slide a plate into a cabinet", ("push the plate into the cabinet", "slide the dish into the cupboard")),
    "plate-slide-side-v3": ("Slide a plate into a cabinet sideways", ("push the plate sideways into the cabinet", "slide the dish into the cupboard from the side")),
    "plate-slide-back-v3": ("Get a plate from the cabinet", ("pull the plate out of the cabinet", "slide the dish out of the cupboard")),
    "plate-slide-back-side-v3": ("Get a plate from the cabinet sideways", ("pull the plate out of the cabinet sideways", "slide the dish out of the cupboard to the side")),
    "peg-unplug-side-v3": ("Unplug a peg sideways", ("pull the peg out of its socket sideways", "draw the plug out to the side")),
    "soccer-v3": ("Kick a soccer into the goal", ("push the ball into the net", "score a goal with the soccer ball")),
    "stick-push-v3": ("Grasp a stick and push a box using the stick", ("pick up the stick and shove the box with it", "use the stick to push the box along")),
    "stick-pull-v3": ("Grasp a stick and pull a box with the stick", ("pick up the stick and drag the box with it", "use the stick to pull the box towards you")),
    "push-wall-v3": ("Bypass a wall and push a puck to a goal", ("slide the puck around the wall to the target", "push the puck past the wall to the goal")),
    "reach-wall-v3": ("Bypass a wall and reach a goal", ("reach over the wall to the target point", "move the hand past the wall to the goal")),
    "shelf-place-v3": ("Pick and place a puck onto a shelf", ("put the puck up on the shelf", "lift the puck and set it on the shelf")),
    "sweep-into-v3": ("Sweep a puck into a hole", ("brush the puck into the hole", "push the puck along until it drops in the hole")),
    "sweep-v3": ("Sweep a puck off the table", ("brush the puck off the edge of the table", "push the puck off the table")),
    "window-open-v3": ("Push and open a window", ("slide the window open", "push the window sash open")),
    "window-close-v3": ("Push and close a window", ("slide the window shut", "push the window sash closed")),
}
WORDINGS = ("train", "heldout")


def instruction(task: str, wording: str = "train", rng: random.Random | None = None) -> str:
    """The task's instruction: the published one ("train") or one of its held-out paraphrases."""
    train, heldout = INSTRUCTIONS[check_task(task)]
    if wording == "train":
        return train
    if wording != "heldout":
        raise ValueError(f"wording must be one of {WORDINGS}; got {wording!r}")
    return (rng or random.Random(0)).choice(heldout)
